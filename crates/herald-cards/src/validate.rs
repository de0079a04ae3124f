//! The Adaptive Card schema, as far as Teams renders it (versions up to 1.5), written from
//! Microsoft's published schema and element reference: known element, input and action types,
//! required properties, value types, enumerations, where each kind may appear, unique ids, and
//! Teams' message size. Unknown properties are allowed (the schema lets hosts add their own,
//! and Teams ignores what it does not know).
//!
//! In [`Mode::Template`], values holding `${…}` are not known until a recipient's data is bound,
//! so their types are not checked; `$data` and `$when` are allowed anywhere. Each rendered card is
//! checked again in [`Mode::Card`] before it is sent.
//!
//! Over 600 lines because most of it is the table of Teams' element and action types, one entry
//! each, read as data.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// Teams refuses a message whose activity is over 28 KB; a card alone must fit in it.
pub const MAX_CARD_BYTES: usize = 28 * 1024;

/// The newest card version Teams renders.
pub const MAX_VERSION: (u32, u32) = (1, 5);

/// Which rule a card broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Not an object with `"type": "AdaptiveCard"`.
    Root,
    /// `version` missing, malformed, or newer than Teams renders.
    Version,
    UnknownElement,
    UnknownAction,
    /// A required property is missing.
    Required,
    /// A property has the wrong JSON type.
    Type,
    /// A value outside an enumeration.
    Enum,
    /// Something where it cannot be (an action in `body`, a Column outside a ColumnSet, …).
    Nesting,
    DuplicateId,
    /// Over Teams' message size.
    Size,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Root => "root",
            Rule::Version => "version",
            Rule::UnknownElement => "unknown-element",
            Rule::UnknownAction => "unknown-action",
            Rule::Required => "required",
            Rule::Type => "type",
            Rule::Enum => "enum",
            Rule::Nesting => "nesting",
            Rule::DuplicateId => "duplicate-id",
            Rule::Size => "size",
        }
    }
}

/// What is wrong and where: `pointer` is a JSON pointer from the card's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardError {
    pub rule: Rule,
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (at {})", self.message, self.pointer)
        }
    }
}

impl std::error::Error for CardError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A card as it will be sent.
    Card,
    /// A template: `${…}` values are checked once rendered.
    Template,
}

/// Checks a card; the first problem found (in document order) is returned.
pub fn validate(card: &Value, mode: Mode) -> Result<(), CardError> {
    let size = card.to_string().len();
    if size > MAX_CARD_BYTES {
        return Err(CardError {
            rule: Rule::Size,
            pointer: String::new(),
            message: format!("the card is {size} bytes; Teams takes at most {MAX_CARD_BYTES}"),
        });
    }
    let mut v = Validator {
        mode,
        ids: HashMap::new(),
    };
    v.card(card, "", true)
}

// ---------------------------------------------------------------------------------------------
// The schema

/// What a property holds.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Num,
    /// A string or a number (`width`).
    StrOrNum,
    /// One of these strings (compared without case, as the renderers do).
    Enum(&'static [&'static str]),
    /// Any JSON (`data`, `requires`, `msteams`, …).
    Any,
    Object,
    Elements,
    Actions,
    /// One action, not `Action.ShowCard` (`selectAction`).
    SelectAction,
    /// One action (`inlineAction`).
    Action,
    /// `fallback`: `"drop"` or an element / action of the same family.
    Fallback,
    /// A nested card (`Action.ShowCard.card`).
    Card,
    Columns,
    Facts,
    Images,
    Choices,
    Inlines,
    TableColumns,
    TableRows,
    MediaSources,
    TargetElements,
    /// A URL string or `{url, fillMode, …}`.
    BackgroundImage,
}

const SPACING: &[&str] = &[
    "default",
    "none",
    "small",
    "medium",
    "large",
    "extraLarge",
    "padding",
];
const H_ALIGN: &[&str] = &["left", "center", "right"];
const V_ALIGN: &[&str] = &["top", "center", "bottom"];
const HEIGHT: &[&str] = &["auto", "stretch"];
const CONTAINER_STYLE: &[&str] = &[
    "default",
    "emphasis",
    "good",
    "attention",
    "warning",
    "accent",
];
const COLORS: &[&str] = &[
    "default",
    "dark",
    "light",
    "accent",
    "good",
    "warning",
    "attention",
];
const FONT_SIZE: &[&str] = &["default", "small", "medium", "large", "extraLarge"];
const FONT_WEIGHT: &[&str] = &["default", "lighter", "bolder"];
const FONT_TYPE: &[&str] = &["default", "monospace"];
const ASSOCIATED_INPUTS: &[&str] = &["auto", "none"];

/// Properties every element has.
const ELEMENT_COMMON: &[(&str, Kind)] = &[
    ("type", Kind::Str),
    ("id", Kind::Str),
    ("isVisible", Kind::Bool),
    ("separator", Kind::Bool),
    ("spacing", Kind::Enum(SPACING)),
    ("height", Kind::Enum(HEIGHT)),
    ("fallback", Kind::Fallback),
    ("requires", Kind::Object),
];

/// Properties every input has.
const INPUT_COMMON: &[(&str, Kind)] = &[
    ("label", Kind::Str),
    ("isRequired", Kind::Bool),
    ("errorMessage", Kind::Str),
];

/// Properties every action has.
const ACTION_COMMON: &[(&str, Kind)] = &[
    ("type", Kind::Str),
    ("id", Kind::Str),
    ("title", Kind::Str),
    ("iconUrl", Kind::Str),
    ("tooltip", Kind::Str),
    ("isEnabled", Kind::Bool),
    ("style", Kind::Enum(&["default", "positive", "destructive"])),
    ("mode", Kind::Enum(&["primary", "secondary"])),
    ("fallback", Kind::Fallback),
    ("requires", Kind::Object),
];

struct TypeDef {
    name: &'static str,
    required: &'static [&'static str],
    props: &'static [(&'static str, Kind)],
    input: bool,
}

const ELEMENTS: &[TypeDef] = &[
    TypeDef {
        name: "TextBlock",
        required: &["text"],
        props: &[
            ("text", Kind::Str),
            ("color", Kind::Enum(COLORS)),
            ("fontType", Kind::Enum(FONT_TYPE)),
            ("horizontalAlignment", Kind::Enum(H_ALIGN)),
            ("isSubtle", Kind::Bool),
            ("maxLines", Kind::Num),
            ("size", Kind::Enum(FONT_SIZE)),
            ("weight", Kind::Enum(FONT_WEIGHT)),
            ("wrap", Kind::Bool),
            ("style", Kind::Enum(&["default", "heading"])),
        ],
        input: false,
    },
    TypeDef {
        name: "RichTextBlock",
        required: &["inlines"],
        props: &[
            ("inlines", Kind::Inlines),
            ("horizontalAlignment", Kind::Enum(H_ALIGN)),
        ],
        input: false,
    },
    TypeDef {
        name: "Image",
        required: &["url"],
        props: &[
            ("url", Kind::Str),
            ("altText", Kind::Str),
            ("backgroundColor", Kind::Str),
            ("horizontalAlignment", Kind::Enum(H_ALIGN)),
            ("selectAction", Kind::SelectAction),
            (
                "size",
                Kind::Enum(&["auto", "stretch", "small", "medium", "large"]),
            ),
            ("style", Kind::Enum(&["default", "person"])),
            ("width", Kind::Str),
            // Image's height is a pixel size ("50px") or auto/stretch.
            ("height", Kind::Str),
        ],
        input: false,
    },
    TypeDef {
        name: "Media",
        required: &["sources"],
        props: &[
            ("sources", Kind::MediaSources),
            ("poster", Kind::Str),
            ("altText", Kind::Str),
        ],
        input: false,
    },
    TypeDef {
        name: "Container",
        required: &["items"],
        props: &[
            ("items", Kind::Elements),
            ("selectAction", Kind::SelectAction),
            ("style", Kind::Enum(CONTAINER_STYLE)),
            ("verticalContentAlignment", Kind::Enum(V_ALIGN)),
            ("bleed", Kind::Bool),
            ("backgroundImage", Kind::BackgroundImage),
            ("minHeight", Kind::Str),
            ("rtl", Kind::Bool),
        ],
        input: false,
    },
    TypeDef {
        name: "ColumnSet",
        required: &[],
        props: &[
            ("columns", Kind::Columns),
            ("selectAction", Kind::SelectAction),
            ("style", Kind::Enum(CONTAINER_STYLE)),
            ("bleed", Kind::Bool),
            ("minHeight", Kind::Str),
            ("horizontalAlignment", Kind::Enum(H_ALIGN)),
        ],
        input: false,
    },
    TypeDef {
        name: "FactSet",
        required: &["facts"],
        props: &[("facts", Kind::Facts)],
        input: false,
    },
    TypeDef {
        name: "ImageSet",
        required: &["images"],
        props: &[
            ("images", Kind::Images),
            (
                "imageSize",
                Kind::Enum(&["auto", "stretch", "small", "medium", "large"]),
            ),
        ],
        input: false,
    },
    TypeDef {
        name: "ActionSet",
        required: &["actions"],
        props: &[("actions", Kind::Actions)],
        input: false,
    },
    TypeDef {
        name: "Table",
        required: &[],
        props: &[
            ("columns", Kind::TableColumns),
            ("rows", Kind::TableRows),
            ("firstRowAsHeader", Kind::Bool),
            ("showGridLines", Kind::Bool),
            ("gridStyle", Kind::Enum(CONTAINER_STYLE)),
            ("horizontalCellContentAlignment", Kind::Enum(H_ALIGN)),
            ("verticalCellContentAlignment", Kind::Enum(V_ALIGN)),
        ],
        input: false,
    },
    TypeDef {
        name: "Input.Text",
        required: &["id"],
        props: &[
            ("isMultiline", Kind::Bool),
            ("maxLength", Kind::Num),
            ("placeholder", Kind::Str),
            ("regex", Kind::Str),
            (
                "style",
                Kind::Enum(&["text", "tel", "url", "email", "password"]),
            ),
            ("inlineAction", Kind::Action),
            ("value", Kind::Str),
        ],
        input: true,
    },
    TypeDef {
        name: "Input.Number",
        required: &["id"],
        props: &[
            ("max", Kind::Num),
            ("min", Kind::Num),
            ("placeholder", Kind::Str),
            ("value", Kind::Num),
        ],
        input: true,
    },
    TypeDef {
        name: "Input.Date",
        required: &["id"],
        props: &[
            ("max", Kind::Str),
            ("min", Kind::Str),
            ("placeholder", Kind::Str),
            ("value", Kind::Str),
        ],
        input: true,
    },
    TypeDef {
        name: "Input.Time",
        required: &["id"],
        props: &[
            ("max", Kind::Str),
            ("min", Kind::Str),
            ("placeholder", Kind::Str),
            ("value", Kind::Str),
        ],
        input: true,
    },
    TypeDef {
        name: "Input.Toggle",
        required: &["id", "title"],
        props: &[
            ("title", Kind::Str),
            ("value", Kind::Str),
            ("valueOn", Kind::Str),
            ("valueOff", Kind::Str),
            ("wrap", Kind::Bool),
        ],
        input: true,
    },
    TypeDef {
        name: "Input.ChoiceSet",
        required: &["id", "choices"],
        props: &[
            ("choices", Kind::Choices),
            ("isMultiSelect", Kind::Bool),
            ("style", Kind::Enum(&["compact", "expanded", "filtered"])),
            ("value", Kind::Str),
            ("placeholder", Kind::Str),
            ("wrap", Kind::Bool),
        ],
        input: true,
    },
];

const ACTIONS: &[TypeDef] = &[
    TypeDef {
        name: "Action.OpenUrl",
        required: &["url"],
        props: &[("url", Kind::Str)],
        input: false,
    },
    TypeDef {
        name: "Action.Submit",
        required: &[],
        props: &[
            ("data", Kind::Any),
            ("associatedInputs", Kind::Enum(ASSOCIATED_INPUTS)),
        ],
        input: false,
    },
    TypeDef {
        name: "Action.ShowCard",
        required: &["card"],
        props: &[("card", Kind::Card)],
        input: false,
    },
    TypeDef {
        name: "Action.ToggleVisibility",
        required: &["targetElements"],
        props: &[("targetElements", Kind::TargetElements)],
        input: false,
    },
    TypeDef {
        name: "Action.Execute",
        required: &[],
        props: &[
            ("verb", Kind::Str),
            ("data", Kind::Any),
            ("associatedInputs", Kind::Enum(ASSOCIATED_INPUTS)),
        ],
        input: false,
    },
];

/// Types that live only inside a parent's collection.
const CHILD_ONLY: &[&str] = &[
    "Column",
    "TableRow",
    "TableCell",
    "TextRun",
    "Fact",
    "Input.Choice",
    "AdaptiveCard",
];

const CARD_PROPS: &[(&str, Kind)] = &[
    ("type", Kind::Str),
    ("version", Kind::Str),
    ("body", Kind::Elements),
    ("actions", Kind::Actions),
    ("selectAction", Kind::SelectAction),
    ("fallbackText", Kind::Str),
    ("backgroundImage", Kind::BackgroundImage),
    ("minHeight", Kind::Str),
    ("rtl", Kind::Bool),
    ("speak", Kind::Str),
    ("lang", Kind::Str),
    ("verticalContentAlignment", Kind::Enum(V_ALIGN)),
    ("refresh", Kind::Object),
    ("authentication", Kind::Object),
    ("msteams", Kind::Object),
    ("metadata", Kind::Object),
];

const COLUMN_PROPS: &[(&str, Kind)] = &[
    ("items", Kind::Elements),
    ("width", Kind::StrOrNum),
    ("selectAction", Kind::SelectAction),
    ("style", Kind::Enum(CONTAINER_STYLE)),
    ("verticalContentAlignment", Kind::Enum(V_ALIGN)),
    ("bleed", Kind::Bool),
    ("backgroundImage", Kind::BackgroundImage),
    ("minHeight", Kind::Str),
    ("rtl", Kind::Bool),
];

const TEXT_RUN_PROPS: &[(&str, Kind)] = &[
    ("type", Kind::Str),
    ("text", Kind::Str),
    ("color", Kind::Enum(COLORS)),
    ("fontType", Kind::Enum(FONT_TYPE)),
    ("highlight", Kind::Bool),
    ("isSubtle", Kind::Bool),
    ("italic", Kind::Bool),
    ("strikethrough", Kind::Bool),
    ("underline", Kind::Bool),
    ("selectAction", Kind::SelectAction),
    ("size", Kind::Enum(FONT_SIZE)),
    ("weight", Kind::Enum(FONT_WEIGHT)),
];

const TABLE_CELL_PROPS: &[(&str, Kind)] = &[
    ("type", Kind::Str),
    ("items", Kind::Elements),
    ("selectAction", Kind::SelectAction),
    ("style", Kind::Enum(CONTAINER_STYLE)),
    ("verticalContentAlignment", Kind::Enum(V_ALIGN)),
    ("bleed", Kind::Bool),
    ("backgroundImage", Kind::BackgroundImage),
    ("minHeight", Kind::Str),
    ("rtl", Kind::Bool),
];

// ---------------------------------------------------------------------------------------------
// The walk

struct Validator {
    mode: Mode,
    /// id → the pointer of its first holder.
    ids: HashMap<String, String>,
}

fn err(rule: Rule, pointer: &str, message: impl Into<String>) -> Result<(), CardError> {
    Err(CardError {
        rule,
        pointer: pointer.to_owned(),
        message: message.into(),
    })
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Validator {
    /// A value that a template binds later.
    fn bound_later(&self, v: &Value) -> bool {
        self.mode == Mode::Template && v.as_str().is_some_and(|s| s.contains("${"))
    }

    fn card(&mut self, card: &Value, at: &str, root: bool) -> Result<(), CardError> {
        let Some(obj) = card.as_object() else {
            return err(
                Rule::Root,
                at,
                format!(
                    "an Adaptive Card must be an object with \"type\": \"AdaptiveCard\", not {}",
                    type_name(card)
                ),
            );
        };
        match obj.get("type") {
            Some(Value::String(t)) if t == "AdaptiveCard" => {}
            Some(t) if self.bound_later(t) => {}
            Some(t) => {
                return err(
                    Rule::Root,
                    &format!("{at}/type"),
                    format!("the card's type is {t}; it must be \"AdaptiveCard\""),
                )
            }
            None => {
                return err(
                    Rule::Root,
                    at,
                    "the card has no \"type\": it must be \"AdaptiveCard\"",
                )
            }
        }
        if root {
            self.version(obj.get("version"), at)?;
        } else if let Some(v) = obj.get("version") {
            self.version(Some(v), at)?;
        }
        self.props(obj, at, CARD_PROPS)
    }

    fn version(&self, v: Option<&Value>, at: &str) -> Result<(), CardError> {
        let here = format!("{at}/version");
        let Some(v) = v else {
            return err(
                Rule::Version,
                &here,
                "the card has no \"version\"; Teams renders versions 1.0 to 1.5",
            );
        };
        if self.bound_later(v) {
            return Ok(());
        }
        let Some(s) = v.as_str() else {
            return err(
                Rule::Version,
                &here,
                format!("the version is {}, not a string like \"1.5\"", type_name(v)),
            );
        };
        let parsed = s.split_once('.').and_then(|(a, b)| {
            let ok = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
            (ok(a) && ok(b)).then(|| (a.parse::<u32>().ok(), b.parse::<u32>().ok()))
        });
        match parsed {
            Some((Some(major), Some(minor))) => {
                if (major, minor) > MAX_VERSION || major == 0 {
                    return err(
                        Rule::Version,
                        &here,
                        format!("version {s} is not one Teams renders (1.0 to 1.5)"),
                    );
                }
                Ok(())
            }
            _ => err(
                Rule::Version,
                &here,
                format!("`{s}` is not a version like \"1.5\""),
            ),
        }
    }

    /// Checks the known properties of an object against their kinds.
    fn props(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        props: &[(&str, Kind)],
    ) -> Result<(), CardError> {
        for (key, value) in obj {
            // Later tables (the specific type's) override the common ones, so look from the end.
            if let Some((_, kind)) = props.iter().rev().find(|(k, _)| k == key) {
                self.value(value, *kind, &format!("{at}/{}", escape(key)), key)?;
            }
        }
        Ok(())
    }

    fn value(&mut self, v: &Value, kind: Kind, at: &str, key: &str) -> Result<(), CardError> {
        if self.bound_later(v) {
            return Ok(());
        }
        let wrong = |expected: &str| {
            err(
                Rule::Type,
                at,
                format!("`{key}` must be {expected}, not {}", type_name(v)),
            )
        };
        match kind {
            Kind::Any => Ok(()),
            Kind::Str => {
                if v.is_string() {
                    Ok(())
                } else {
                    wrong("a string")
                }
            }
            Kind::Bool => {
                if v.is_boolean() {
                    Ok(())
                } else {
                    wrong("true or false")
                }
            }
            Kind::Num => {
                if v.is_number() {
                    Ok(())
                } else {
                    wrong("a number")
                }
            }
            Kind::StrOrNum => {
                if v.is_string() || v.is_number() {
                    Ok(())
                } else {
                    wrong("a string or a number")
                }
            }
            Kind::Object => {
                if v.is_object() {
                    Ok(())
                } else {
                    wrong("an object")
                }
            }
            Kind::Enum(values) => {
                let Some(s) = v.as_str() else {
                    return wrong(&format!("one of {}", values.join(", ")));
                };
                if values.iter().any(|e| e.eq_ignore_ascii_case(s)) {
                    Ok(())
                } else {
                    err(
                        Rule::Enum,
                        at,
                        format!(
                            "`{key}` is \"{s}\"; it must be one of {}",
                            values.join(", ")
                        ),
                    )
                }
            }
            Kind::Elements => self.each(v, at, key, |me, item, here| me.element(item, here)),
            Kind::Actions => self.each(v, at, key, |me, item, here| me.action(item, here)),
            Kind::Action => self.action(v, at),
            Kind::SelectAction => {
                if v.get("type").and_then(Value::as_str) == Some("Action.ShowCard") {
                    return err(
                        Rule::Nesting,
                        &format!("{at}/type"),
                        "Action.ShowCard cannot be a selectAction",
                    );
                }
                self.action(v, at)
            }
            Kind::Fallback => match v {
                Value::String(s) if s.eq_ignore_ascii_case("drop") => Ok(()),
                Value::String(s) => err(
                    Rule::Enum,
                    at,
                    format!("`fallback` is \"{s}\"; it must be \"drop\" or an element"),
                ),
                Value::Object(o) => {
                    let is_action = o
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.starts_with("Action."));
                    if is_action {
                        self.action(v, at)
                    } else {
                        self.element(v, at)
                    }
                }
                _ => wrong("\"drop\" or an element"),
            },
            Kind::Card => self.card(v, at, false),
            Kind::Columns => self.each(v, at, key, |me, item, here| {
                me.child(item, here, "Column", COLUMN_PROPS, &[])
            }),
            Kind::Facts => self.each(v, at, key, |me, item, here| {
                me.plain(
                    item,
                    here,
                    "fact",
                    &[("title", Kind::Str), ("value", Kind::Str)],
                    &["title", "value"],
                )
            }),
            Kind::Images => self.each(v, at, key, |me, item, here| {
                if item.get("type").is_none() && item.is_object() {
                    // ImageSet's images may leave out `"type": "Image"`.
                    let def = find(ELEMENTS, "Image").expect("Image is known");
                    return me.typed(item.as_object().expect("checked"), here, def);
                }
                match item.get("type").and_then(Value::as_str) {
                    Some("Image") | None => me.element(item, here),
                    Some(t) => err(
                        Rule::Nesting,
                        &format!("{here}/type"),
                        format!("an ImageSet holds Images, not {t}"),
                    ),
                }
            }),
            Kind::Choices => self.each(v, at, key, |me, item, here| {
                me.plain(
                    item,
                    here,
                    "choice",
                    &[("title", Kind::Str), ("value", Kind::Str)],
                    &["title", "value"],
                )
            }),
            Kind::Inlines => self.each(v, at, key, |me, item, here| {
                if item.is_string() {
                    return Ok(());
                }
                me.child(item, here, "TextRun", TEXT_RUN_PROPS, &["text"])
            }),
            Kind::TableColumns => self.each(v, at, key, |me, item, here| {
                me.plain(
                    item,
                    here,
                    "column definition",
                    &[
                        ("width", Kind::StrOrNum),
                        ("horizontalCellContentAlignment", Kind::Enum(H_ALIGN)),
                        ("verticalCellContentAlignment", Kind::Enum(V_ALIGN)),
                    ],
                    &[],
                )
            }),
            Kind::TableRows => self.each(v, at, key, |me, row, here| {
                me.child(
                    row,
                    here,
                    "TableRow",
                    &[
                        ("type", Kind::Str),
                        ("cells", Kind::Any),
                        ("style", Kind::Enum(CONTAINER_STYLE)),
                        ("horizontalCellContentAlignment", Kind::Enum(H_ALIGN)),
                        ("verticalCellContentAlignment", Kind::Enum(V_ALIGN)),
                    ],
                    &["cells"],
                )?;
                let Some(cells) = row.get("cells") else {
                    return Ok(());
                };
                me.each(
                    cells,
                    &format!("{here}/cells"),
                    "cells",
                    |me, cell, here| {
                        me.child(cell, here, "TableCell", TABLE_CELL_PROPS, &["items"])
                    },
                )
            }),
            Kind::MediaSources => self.each(v, at, key, |me, item, here| {
                me.plain(
                    item,
                    here,
                    "media source",
                    &[("mimeType", Kind::Str), ("url", Kind::Str)],
                    &["url"],
                )
            }),
            Kind::TargetElements => self.each(v, at, key, |me, item, here| {
                if item.is_string() || me.bound_later(item) {
                    return Ok(());
                }
                me.plain(
                    item,
                    here,
                    "target element",
                    &[("elementId", Kind::Str), ("isVisible", Kind::Bool)],
                    &["elementId"],
                )
            }),
            Kind::BackgroundImage => match v {
                Value::String(_) => Ok(()),
                Value::Object(o) => {
                    if !o.contains_key("url") {
                        return err(Rule::Required, at, "a backgroundImage object needs a `url`");
                    }
                    self.props(
                        o,
                        at,
                        &[
                            ("url", Kind::Str),
                            (
                                "fillMode",
                                Kind::Enum(&[
                                    "cover",
                                    "repeatHorizontally",
                                    "repeatVertically",
                                    "repeat",
                                ]),
                            ),
                            ("horizontalAlignment", Kind::Enum(H_ALIGN)),
                            ("verticalAlignment", Kind::Enum(V_ALIGN)),
                        ],
                    )
                }
                _ => wrong("a URL or an object with a url"),
            },
        }
    }

    fn each(
        &mut self,
        v: &Value,
        at: &str,
        key: &str,
        mut f: impl FnMut(&mut Self, &Value, &str) -> Result<(), CardError>,
    ) -> Result<(), CardError> {
        let Some(items) = v.as_array() else {
            return err(
                Rule::Type,
                at,
                format!("`{key}` must be an array, not {}", type_name(v)),
            );
        };
        for (i, item) in items.iter().enumerate() {
            f(self, item, &format!("{at}/{i}"))?;
        }
        Ok(())
    }

    /// An object in a collection that carries no `type` (facts, choices, sources).
    fn plain(
        &mut self,
        item: &Value,
        at: &str,
        what: &str,
        props: &[(&str, Kind)],
        required: &[&str],
    ) -> Result<(), CardError> {
        let Some(obj) = item.as_object() else {
            return err(
                Rule::Type,
                at,
                format!("a {what} must be an object, not {}", type_name(item)),
            );
        };
        self.required(obj, at, what, required)?;
        self.props(obj, at, props)
    }

    fn required(
        &self,
        obj: &Map<String, Value>,
        at: &str,
        what: &str,
        required: &[&str],
    ) -> Result<(), CardError> {
        for r in required {
            if obj.get(*r).is_none_or(Value::is_null) {
                return err(Rule::Required, at, format!("this {what} needs a `{r}`"));
            }
        }
        Ok(())
    }

    /// A typed child of a specific parent (Column, TableRow, TableCell, TextRun).
    fn child(
        &mut self,
        item: &Value,
        at: &str,
        expected: &str,
        props: &[(&str, Kind)],
        required: &[&str],
    ) -> Result<(), CardError> {
        let Some(obj) = item.as_object() else {
            return err(
                Rule::Type,
                at,
                format!("a {expected} must be an object, not {}", type_name(item)),
            );
        };
        match obj.get("type") {
            // The type may be left out where only one can appear.
            None => {}
            Some(Value::String(t)) if t == expected => {}
            Some(t) if self.bound_later(t) => {}
            Some(t) => {
                return err(
                    Rule::Nesting,
                    &format!("{at}/type"),
                    format!("expected a {expected} here, not {t}"),
                )
            }
        }
        self.required(obj, at, expected, required)?;
        self.id(obj, at)?;
        let mut all: Vec<(&str, Kind)> = ELEMENT_COMMON.to_vec();
        all.extend_from_slice(props);
        self.props(obj, at, &all)
    }

    fn element(&mut self, item: &Value, at: &str) -> Result<(), CardError> {
        let Some(obj) = item.as_object() else {
            return err(
                Rule::Type,
                at,
                format!("an element must be an object, not {}", type_name(item)),
            );
        };
        let t = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(t) if self.bound_later(t) => return Ok(()),
            Some(t) => {
                return err(
                    Rule::Type,
                    &format!("{at}/type"),
                    format!("an element's type must be a string, not {}", type_name(t)),
                )
            }
            None => return err(Rule::Required, at, "this element has no `type`"),
        };
        if let Some(def) = find(ELEMENTS, t) {
            return self.typed(obj, at, def);
        }
        if t.starts_with("Action.") && find(ACTIONS, t).is_some() {
            return err(
                Rule::Nesting,
                &format!("{at}/type"),
                format!(
                    "{t} is an action: put it in `actions` or an ActionSet, not among elements"
                ),
            );
        }
        if CHILD_ONLY.contains(&t) {
            return err(
                Rule::Nesting,
                &format!("{at}/type"),
                format!("a {t} can only appear inside its parent ({})", parent_of(t)),
            );
        }
        if obj.contains_key("fallback") {
            // Teams renders the fallback instead; check that.
            return self.value(
                &obj["fallback"],
                Kind::Fallback,
                &format!("{at}/fallback"),
                "fallback",
            );
        }
        err(
            Rule::UnknownElement,
            &format!("{at}/type"),
            format!("`{t}` is not an element type Teams renders (card version ≤ 1.5)"),
        )
    }

    fn action(&mut self, item: &Value, at: &str) -> Result<(), CardError> {
        let Some(obj) = item.as_object() else {
            return err(
                Rule::Type,
                at,
                format!("an action must be an object, not {}", type_name(item)),
            );
        };
        let t = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(t) if self.bound_later(t) => return Ok(()),
            Some(t) => {
                return err(
                    Rule::Type,
                    &format!("{at}/type"),
                    format!("an action's type must be a string, not {}", type_name(t)),
                )
            }
            None => return err(Rule::Required, at, "this action has no `type`"),
        };
        if let Some(def) = find(ACTIONS, t) {
            return self.typed(obj, at, def);
        }
        if find(ELEMENTS, t).is_some() || CHILD_ONLY.contains(&t) {
            return err(
                Rule::Nesting,
                &format!("{at}/type"),
                format!("{t} is an element, not an action"),
            );
        }
        if obj.contains_key("fallback") {
            return self.value(
                &obj["fallback"],
                Kind::Fallback,
                &format!("{at}/fallback"),
                "fallback",
            );
        }
        err(
            Rule::UnknownAction,
            &format!("{at}/type"),
            format!("`{t}` is not an action type Teams renders (card version ≤ 1.5)"),
        )
    }

    fn typed(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        def: &TypeDef,
    ) -> Result<(), CardError> {
        self.required(obj, at, def.name, def.required)?;
        self.id(obj, at)?;
        let common: &[(&str, Kind)] = if def.name.starts_with("Action.") {
            ACTION_COMMON
        } else {
            ELEMENT_COMMON
        };
        let mut all: Vec<(&str, Kind)> = common.to_vec();
        if def.input {
            all.extend_from_slice(INPUT_COMMON);
        }
        all.extend_from_slice(def.props);
        self.props(obj, at, &all)
    }

    /// Ids are unique across the whole card, nested cards included.
    fn id(&mut self, obj: &Map<String, Value>, at: &str) -> Result<(), CardError> {
        let Some(id) = obj.get("id").and_then(Value::as_str) else {
            return Ok(());
        };
        if self.mode == Mode::Template && (id.contains("${") || obj.contains_key("$data")) {
            // Repeated elements get their ids from data.
            return Ok(());
        }
        if let Some(first) = self.ids.get(id) {
            return err(
                Rule::DuplicateId,
                &format!("{at}/id"),
                format!("the id \"{id}\" is already used at {first}"),
            );
        }
        self.ids.insert(id.to_owned(), format!("{at}/id"));
        Ok(())
    }
}

fn find(defs: &'static [TypeDef], name: &str) -> Option<&'static TypeDef> {
    defs.iter().find(|d| d.name == name)
}

fn parent_of(t: &str) -> &'static str {
    match t {
        "Column" => "a ColumnSet's columns",
        "TableRow" => "a Table's rows",
        "TableCell" => "a TableRow's cells",
        "TextRun" => "a RichTextBlock's inlines",
        "Fact" => "a FactSet's facts",
        "Input.Choice" => "an Input.ChoiceSet's choices",
        _ => "Action.ShowCard's card",
    }
}

/// Every input's id in a card (what an answer may carry back).
pub fn input_ids(card: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(card, &mut |o| {
        let is_input = o
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("Input."));
        if is_input {
            if let Some(id) = o.get("id").and_then(Value::as_str) {
                out.push(id.to_owned());
            }
        }
    });
    out
}

/// Whether this object is an answer button (Action.Submit or Action.Execute).
pub fn is_answer_action(o: &Map<String, Value>) -> bool {
    matches!(
        o.get("type").and_then(Value::as_str),
        Some("Action.Submit" | "Action.Execute")
    )
}

/// An answer button's label: its title, else its id, else its verb.
pub fn answer_label(o: &Map<String, Value>) -> Option<&str> {
    ["title", "id", "verb"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str))
}

/// Every Submit/Execute action's label (title, else id, else verb) and its own `data`.
pub fn answer_action_data(card: &Value) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    walk(card, &mut |o| {
        if is_answer_action(o) {
            let label = answer_label(o).map(str::to_owned);
            out.push((label, o.get("data").cloned().unwrap_or(Value::Null)));
        }
    });
    out
}

fn walk(v: &Value, f: &mut impl FnMut(&Map<String, Value>)) {
    match v {
        Value::Object(o) => {
            f(o);
            for x in o.values() {
                walk(x, f);
            }
        }
        Value::Array(a) => {
            for x in a {
                walk(x, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule_of(card: Value) -> (Rule, String) {
        let e = validate(&card, Mode::Card).unwrap_err();
        (e.rule, e.pointer)
    }

    #[test]
    fn a_good_card_passes() {
        let card = json!({
            "type": "AdaptiveCard", "version": "1.5",
            "body": [
                {"type": "TextBlock", "text": "Approve?", "size": "Large", "weight": "Bolder", "wrap": true},
                {"type": "Input.Text", "id": "comment", "label": "Comment", "isMultiline": true},
                {"type": "ColumnSet", "columns": [{"type": "Column", "width": "auto", "items": [{"type": "Image", "url": "https://x/y.png"}]}]},
                {"type": "FactSet", "facts": [{"title": "a", "value": "b"}]}
            ],
            "actions": [
                {"type": "Action.Submit", "title": "Approve", "data": {"ok": true}},
                {"type": "Action.Execute", "title": "Reject", "verb": "reject"},
                {"type": "Action.ShowCard", "title": "More", "card": {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]}}
            ],
            "msteams": {"width": "Full"}
        });
        validate(&card, Mode::Card).unwrap();
    }

    #[test]
    fn each_rule_names_its_node() {
        let base = |body: Value| json!({"type": "AdaptiveCard", "version": "1.5", "body": body});
        assert_eq!(rule_of(json!([])), (Rule::Root, String::new()));
        assert_eq!(
            rule_of(json!({"type": "AdaptiveCard", "version": "1.6"})),
            (Rule::Version, "/version".into())
        );
        assert_eq!(
            rule_of(base(
                json!([{"type": "TextBlock", "text": "a"}, {"type": "Bogus"}])
            )),
            (Rule::UnknownElement, "/body/1/type".into())
        );
        assert_eq!(
            rule_of(base(json!([{"type": "TextBlock"}]))),
            (Rule::Required, "/body/0".into())
        );
        assert_eq!(
            rule_of(base(
                json!([{"type": "TextBlock", "text": "a", "wrap": "yes"}])
            )),
            (Rule::Type, "/body/0/wrap".into())
        );
        assert_eq!(
            rule_of(base(
                json!([{"type": "TextBlock", "text": "a", "size": "huge"}])
            )),
            (Rule::Enum, "/body/0/size".into())
        );
        assert_eq!(
            rule_of(base(json!([{"type": "Column", "items": []}]))),
            (Rule::Nesting, "/body/0/type".into())
        );
        assert_eq!(
            rule_of(base(
                json!([{"type": "Input.Text", "id": "a"}, {"type": "Input.Text", "id": "a"}])
            )),
            (Rule::DuplicateId, "/body/1/id".into())
        );
        let big: Vec<Value> = (0..400)
            .map(|i| json!({"type": "TextBlock", "text": format!("line {i} {}", "x".repeat(60))}))
            .collect();
        assert_eq!(rule_of(base(Value::Array(big))).0, Rule::Size);
    }

    #[test]
    fn unknown_types_with_a_fallback_pass_and_enums_ignore_case() {
        let card = json!({"type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "Future.Thing", "fallback": {"type": "TextBlock", "text": "old"}},
            {"type": "TextBlock", "text": "a", "size": "LARGE"}
        ]});
        validate(&card, Mode::Card).unwrap();
    }

    #[test]
    fn templates_defer_bound_values() {
        let t = json!({"type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "TextBlock", "text": "${name}", "wrap": "${long}"},
            {"type": "Input.Text", "$data": "${items}", "id": "${id}"},
            {"type": "Input.Text", "$data": "${items}", "id": "${id}"}
        ]});
        validate(&t, Mode::Template).unwrap();
        assert_eq!(validate(&t, Mode::Card).unwrap_err().rule, Rule::Type);
    }
}
