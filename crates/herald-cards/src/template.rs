//! The Adaptive Card Templating language: `${…}` in string values, `$data` (binding a scope, or
//! repeating an element for each item of a list, with `$index`), `$when` (dropping an element),
//! `$root`. A template is compiled once ([`Template::compile`], which refuses syntax errors and
//! unknown functions with the pointer of the string) and expanded once per recipient.
//!
//! One deliberate difference from Microsoft's JavaScript engine: where a value is missing for a
//! recipient, that engine leaves the `${…}` text in the card; Herald refuses to send such a card
//! ([`TemplateError`], the delivery fails with `template_error`), since a card reading
//! "Hello ${name}" is a defect its author would want to hear about. Use `coalesce(x, '')` or
//! `$when: "${exists(x)}"` for fields that may be absent.

use crate::expr::{self, eval, to_text, Expr, Scope};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// JSON pointer of the value in the template.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at {})", self.message, self.pointer)
    }
}

impl std::error::Error for TemplateError {}

/// A string with expressions.
#[derive(Debug, Clone)]
enum Interp {
    /// The whole string is one `${…}`: its value keeps its type.
    Whole(Expr, String),
    Parts(Vec<Part>),
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(Expr, String),
}

#[derive(Debug, Clone)]
enum Node {
    Lit(Value),
    Str(Interp),
    Array(Vec<Node>),
    Object {
        fields: Vec<(String, Node)>,
        data: Option<Box<Node>>,
        when: Option<Interp>,
    },
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Node,
    /// Whether the template binds anything at all (a plain card is sent as is).
    dynamic: bool,
    /// Every name its expressions read.
    names: std::collections::BTreeSet<String>,
}

/// Compiles and expands in one go.
pub fn expand(template: &Value, root: &Value) -> Result<Value, TemplateError> {
    Template::compile(template)?.expand(root)
}

/// Splits `Hello ${name}!` into text and expressions; `None` when there is nothing to bind.
fn split(s: &str) -> Result<Option<Interp>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('\\') {
            // `\${x}` is the text `${x}`.
            text.push_str(&rest[..start - 1]);
            text.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        text.push_str(&rest[..start]);
        let body = &rest[start + 2..];
        // Find the closing brace, skipping quoted strings and nested braces.
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in body.char_indices() {
            match (quote, c) {
                (Some(_), '\\') => escaped = !escaped,
                (Some(_), _) if escaped => escaped = false,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '{') => depth += 1,
                (None, '}') if depth == 0 => {
                    end = Some(i);
                    break;
                }
                (None, '}') => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else {
            // No closing brace: the rest is plain text.
            text.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let src = &body[..end];
        let e = expr::parse(src).map_err(|e| format!("`${{{src}}}`: {e}"))?;
        if !text.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut text)));
        }
        parts.push(Part::Expr(e, src.to_owned()));
        rest = &body[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    if let [Part::Expr(e, src)] = parts.as_slice() {
        // A bare literal (`${42}`) stays text, as in Microsoft's engine; anything computed keeps
        // its type.
        if !matches!(e, Expr::Lit(_)) {
            return Ok(Some(Interp::Whole(e.clone(), src.clone())));
        }
    }
    if let [Part::Text(t)] = parts.as_slice() {
        // Only escapes: the text without them.
        return Ok((t != s).then(|| Interp::Parts(parts.clone())));
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Interp::Parts(parts)))
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Template {
    /// Parses every expression; the first bad one is refused with its pointer.
    pub fn compile(template: &Value) -> Result<Self, TemplateError> {
        let mut dynamic = false;
        let root = compile(template, "", &mut dynamic)?;
        let mut names = std::collections::BTreeSet::new();
        collect(&root, &mut names);
        Ok(Template {
            root,
            dynamic,
            names,
        })
    }

    /// Whether an expression reads this name (case-insensitive, as lookups are).
    pub fn mentions(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether expanding can change anything.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// The card for one recipient: `root` is `$root` (and the first `$data`).
    pub fn expand(&self, root: &Value) -> Result<Value, TemplateError> {
        let mut ctx = Ctx {
            root,
            data: root.clone(),
            index: None,
        };
        let mut out = ctx.node(&self.root, "")?;
        // The card itself may be repeated or dropped: Microsoft's engine returns the first / null.
        if let Expanded::Many(items) = out {
            out = match items.into_iter().next() {
                Some(v) => Expanded::One(v),
                None => Expanded::Dropped,
            };
        }
        match out {
            Expanded::One(v) => Ok(v),
            _ => Err(TemplateError {
                pointer: String::new(),
                message: "the card's $when left nothing to send".into(),
            }),
        }
    }
}

fn collect_interp(i: &Interp, out: &mut std::collections::BTreeSet<String>) {
    match i {
        Interp::Whole(e, _) => expr::names(e, out),
        Interp::Parts(parts) => {
            for p in parts {
                if let Part::Expr(e, _) = p {
                    expr::names(e, out);
                }
            }
        }
    }
}

fn collect(n: &Node, out: &mut std::collections::BTreeSet<String>) {
    match n {
        Node::Lit(_) => {}
        Node::Str(i) => collect_interp(i, out),
        Node::Array(items) => items.iter().for_each(|x| collect(x, out)),
        Node::Object { fields, data, when } => {
            fields.iter().for_each(|(_, x)| collect(x, out));
            if let Some(d) = data {
                collect(d, out);
            }
            if let Some(w) = when {
                collect_interp(w, out);
            }
        }
    }
}

fn compile(v: &Value, at: &str, dynamic: &mut bool) -> Result<Node, TemplateError> {
    let bad = |message: String, at: &str| TemplateError {
        pointer: at.to_owned(),
        message,
    };
    Ok(match v {
        Value::String(s) => match split(s).map_err(|m| bad(m, at))? {
            Some(i) => {
                *dynamic = true;
                Node::Str(i)
            }
            None => Node::Lit(v.clone()),
        },
        Value::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| compile(x, &format!("{at}/{i}"), dynamic))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut fields = Vec::with_capacity(o.len());
            let mut data = None;
            let mut when = None;
            for (k, x) in o {
                let here = format!("{at}/{}", escape(k));
                match k.as_str() {
                    "$data" => {
                        *dynamic = true;
                        data = Some(Box::new(compile(x, &here, dynamic)?));
                    }
                    "$when" => {
                        *dynamic = true;
                        let s = x.as_str().ok_or_else(|| {
                            bad("$when must be a string like \"${count > 0}\"".into(), &here)
                        })?;
                        when = Some(split(s).map_err(|m| bad(m, &here))?.ok_or_else(|| {
                            bad(
                                "$when must hold an expression like \"${count > 0}\"".into(),
                                &here,
                            )
                        })?);
                    }
                    // Names the engine reserves never reach the output.
                    "$root" | "$index" | "$host" | "$_acTemplateVersion" => {}
                    _ => fields.push((k.clone(), compile(x, &here, dynamic)?)),
                }
            }
            Node::Object { fields, data, when }
        }
        other => Node::Lit(other.clone()),
    })
}

enum Expanded {
    One(Value),
    /// An element repeated over a list.
    Many(Vec<Value>),
    /// `$when` was false (or a list was empty).
    Dropped,
}

struct Ctx<'a> {
    root: &'a Value,
    data: Value,
    index: Option<usize>,
}

impl Ctx<'_> {
    fn eval(&self, e: &Expr, src: &str, at: &str) -> Result<Option<Value>, TemplateError> {
        let scope = Scope {
            root: self.root,
            data: &self.data,
            index: self.index,
        };
        eval(e, &scope).map_err(|err| TemplateError {
            pointer: at.to_owned(),
            message: format!("`${{{src}}}`: {err}"),
        })
    }

    fn interp(&self, i: &Interp, at: &str) -> Result<Value, TemplateError> {
        let missing = |src: &str| TemplateError {
            pointer: at.to_owned(),
            message: format!("`${{{src}}}` has no value for this recipient"),
        };
        match i {
            Interp::Whole(e, src) => self.eval(e, src, at)?.ok_or_else(|| missing(src)),
            Interp::Parts(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        Part::Text(t) => s.push_str(t),
                        Part::Expr(e, src) => {
                            let v = self.eval(e, src, at)?.ok_or_else(|| missing(src))?;
                            if v.is_null() {
                                return Err(TemplateError {
                                    pointer: at.to_owned(),
                                    message: format!("`${{{src}}}` is null inside a text"),
                                });
                            }
                            s.push_str(&to_text(&v));
                        }
                    }
                }
                Ok(Value::String(s))
            }
        }
    }

    fn node(&mut self, n: &Node, at: &str) -> Result<Expanded, TemplateError> {
        match n {
            Node::Lit(v) => Ok(Expanded::One(v.clone())),
            Node::Str(i) => Ok(Expanded::One(self.interp(i, at)?)),
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match self.node(item, &format!("{at}/{i}"))? {
                        // Microsoft's engine drops nulls and splices nested lists into their parent.
                        Expanded::One(Value::Null) | Expanded::Dropped => {}
                        Expanded::One(Value::Array(vs)) | Expanded::Many(vs) => {
                            out.extend(vs.into_iter().filter(|v| !v.is_null()))
                        }
                        Expanded::One(v) => out.push(v),
                    }
                }
                Ok(Expanded::One(Value::Array(out)))
            }
            Node::Object { fields, data, when } => {
                let saved = (self.data.clone(), self.index);
                let result = self.object(fields, data.as_deref(), when.as_ref(), at);
                (self.data, self.index) = saved;
                result
            }
        }
    }

    fn object(
        &mut self,
        fields: &[(String, Node)],
        data: Option<&Node>,
        when: Option<&Interp>,
        at: &str,
    ) -> Result<Expanded, TemplateError> {
        let (contexts, repeated) = match data {
            None => (vec![None], false),
            Some(d) => {
                let here = format!("{at}/$data");
                let v = match self.node(d, &here)? {
                    Expanded::One(v) => v,
                    Expanded::Many(vs) => Value::Array(vs),
                    Expanded::Dropped => Value::Null,
                };
                match v {
                    Value::Array(items) => (items.into_iter().map(Some).collect(), true),
                    other => (vec![Some(other)], false),
                }
            }
        };
        let mut out = Vec::with_capacity(contexts.len());
        for (i, ctx) in contexts.into_iter().enumerate() {
            if repeated {
                self.index = Some(i);
            }
            if let Some(c) = ctx {
                self.data = c;
            }
            if let Some(w) = when {
                // Kept only when the expression is exactly `true`; anything else (a missing
                // value, an error, a string) drops the element, as in Microsoft's engine.
                let keep = matches!(
                    self.interp(w, &format!("{at}/$when")),
                    Ok(Value::Bool(true))
                );
                if !keep {
                    continue;
                }
            }
            let mut m = Map::with_capacity(fields.len());
            for (k, node) in fields {
                let here = format!("{at}/{}", escape(k));
                match self.node(node, &here)? {
                    Expanded::One(v) => {
                        m.insert(k.clone(), v);
                    }
                    Expanded::Many(vs) => {
                        m.insert(k.clone(), Value::Array(vs));
                    }
                    Expanded::Dropped => {
                        m.insert(k.clone(), Value::Null);
                    }
                }
            }
            out.push(Value::Object(m));
        }
        Ok(match (repeated, out.len()) {
            (_, 0) => Expanded::Dropped,
            (false, 1) => Expanded::One(out.pop().expect("one")),
            _ => Expanded::Many(out),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binds_repeats_and_drops() {
        let t = json!({"type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "TextBlock", "text": "Hello ${givenName}, you have ${count(items)} items"},
            {"type": "TextBlock", "$data": "${items}", "text": "${$index + 1}. ${name} of ${$root.givenName}"},
            {"type": "TextBlock", "$when": "${count(items) > 5}", "text": "many"},
            {"type": "FactSet", "facts": "${facts}"}
        ]});
        let data = json!({"givenName": "Ada", "items": [{"name": "a"}, {"name": "b"}], "facts": [{"title": "t", "value": "v"}]});
        let out = expand(&t, &data).unwrap();
        assert_eq!(
            out["body"],
            json!([
                {"type": "TextBlock", "text": "Hello Ada, you have 2 items"},
                {"type": "TextBlock", "text": "1. a of Ada"},
                {"type": "TextBlock", "text": "2. b of Ada"},
                {"type": "FactSet", "facts": [{"title": "t", "value": "v"}]}
            ])
        );
    }

    #[test]
    fn a_missing_value_is_an_error_with_its_pointer() {
        let t =
            json!({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Hi ${name}"}]});
        let e = expand(&t, &json!({})).unwrap_err();
        assert_eq!(e.pointer, "/body/0/text");
        assert!(e.message.contains("${name}"), "{}", e.message);
        let e = Template::compile(&json!({"body": [{"text": "${nope(1)}"}]})).unwrap_err();
        assert_eq!(e.pointer, "/body/0/text");
    }

    #[test]
    fn data_is_not_expanded_again() {
        let t = json!({"text": "${x}"});
        assert_eq!(
            expand(&t, &json!({"x": "${y}", "y": 1})).unwrap(),
            json!({"text": "${y}"})
        );
    }
}
