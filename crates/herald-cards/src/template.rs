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
//!
//! Over 600 lines because compiling a card and expanding it walk the same node tree, and its
//! tests pin adaptivecards-templating's observed behaviour case by case.

//!
//! Expansion is bounded ([`Limits`]): steps and bytes of intermediate values on an
//! [`expr::Budget`], and the card being built is measured as it grows, so a template that would
//! repeat itself a billion times or make a card of megabytes stops at the limit
//! ([`ErrorKind::Budget`], [`ErrorKind::TooBig`]) before the work or the memory is spent. Data is
//! passed down by reference: nothing is copied until it is written into the card.

use crate::expr::{self, eval, to_text_within, Budget, Expr, Scope};
use crate::validate::MAX_CARD_BYTES;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// What one expansion may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Evaluation steps (expression nodes, template nodes, items and text walked).
    pub steps: u64,
    /// Bytes of values made along the way (text, lists, copies), roughly as held in memory.
    pub scratch_bytes: u64,
    /// The card being built, as JSON text (escapes not counted).
    pub card_bytes: u64,
}

impl Limits {
    /// A million steps (tens of milliseconds), 2 MiB of intermediate values, Teams' 28 KB.
    pub const DEFAULT: Limits = Limits {
        steps: 1_000_000,
        scratch_bytes: 2 << 20,
        card_bytes: MAX_CARD_BYTES as u64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a template cannot be expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A syntax error, an unknown function, a value missing for this recipient, a failed
    /// expression.
    Invalid,
    /// The expansion needs more than [`Limits::steps`] or [`Limits::scratch_bytes`].
    Budget,
    /// The card would be larger than [`Limits::card_bytes`].
    TooBig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub kind: ErrorKind,
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
    /// A value with nothing to bind, and its length as JSON.
    Lit(Value, u64),
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

/// Where a node is, kept as a chain on the stack and written out only for an error.
#[derive(Clone, Copy)]
enum Seg<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct At<'p> {
    parent: Option<&'p At<'p>>,
    seg: Seg<'p>,
}

const ROOT: At<'static> = At {
    parent: None,
    seg: Seg::Root,
};

impl<'p> At<'p> {
    fn key(&'p self, k: &'p str) -> At<'p> {
        At {
            parent: Some(self),
            seg: Seg::Key(k),
        }
    }

    fn index(&'p self, i: usize) -> At<'p> {
        At {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn pointer(&self) -> String {
        let mut segs = Vec::new();
        let mut at = Some(self);
        while let Some(a) = at {
            match a.seg {
                Seg::Root => {}
                Seg::Key(k) => segs.push(escape(k)),
                Seg::Index(i) => segs.push(i.to_string()),
            }
            at = a.parent;
        }
        segs.iter().rev().map(|s| format!("/{s}")).collect()
    }
}

impl Template {
    /// Parses every expression; the first bad one is refused with its pointer.
    pub fn compile(template: &Value) -> Result<Self, TemplateError> {
        let mut dynamic = false;
        let root = compile(template, &ROOT, &mut dynamic)?;
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
        self.expand_with(root, Limits::DEFAULT, false)
    }

    /// An expansion that cannot fail on the data: missing values and failed expressions become
    /// nothing, so only [`ErrorKind::Budget`] and [`ErrorKind::TooBig`] come back. What a
    /// notification is checked with when it is accepted, before anyone's data is at hand: a
    /// template that exhausts the budget here does so for every recipient.
    pub fn trial(&self, root: &Value) -> Result<(), TemplateError> {
        self.expand_with(root, Limits::DEFAULT, true).map(drop)
    }

    /// [`Template::expand`] (or, with `trial`, [`Template::trial`]) within `limits`.
    pub fn expand_with(
        &self,
        root: &Value,
        limits: Limits,
        trial: bool,
    ) -> Result<Value, TemplateError> {
        let mut ctx = Ctx {
            root,
            budget: Budget::new(limits.steps, limits.scratch_bytes),
            card: 0,
            card_limit: limits.card_bytes,
            trial,
        };
        let mut out = ctx.node(&self.root, &ROOT, root, None, true)?;
        // The card itself may be repeated or dropped: Microsoft's engine returns the first / null.
        if let Expanded::Many(items) = out {
            out = match items.into_iter().next() {
                Some(v) => Expanded::One(v),
                None => Expanded::Dropped,
            };
        }
        match out {
            Expanded::One(v) => Ok(v),
            _ if trial => Ok(Value::Null),
            _ => Err(TemplateError {
                kind: ErrorKind::Invalid,
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
        Node::Lit(..) => {}
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

fn compile(v: &Value, at: &At, dynamic: &mut bool) -> Result<Node, TemplateError> {
    let bad = |message: String, at: &At| TemplateError {
        kind: ErrorKind::Invalid,
        pointer: at.pointer(),
        message,
    };
    let lit = |v: &Value| Node::Lit(v.clone(), expr::json_len(v, u64::MAX));
    Ok(match v {
        Value::String(s) => match split(s).map_err(|m| bad(m, at))? {
            Some(i) => {
                *dynamic = true;
                Node::Str(i)
            }
            None => lit(v),
        },
        Value::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| compile(x, &at.index(i), dynamic))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut fields = Vec::with_capacity(o.len());
            let mut data = None;
            let mut when = None;
            for (k, x) in o {
                let here = at.key(k);
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
        other => lit(other),
    })
}

enum Expanded {
    One(Value),
    /// An element repeated over a list.
    Many(Vec<Value>),
    /// `$when` was false (or a list was empty).
    Dropped,
}

struct Ctx<'r> {
    root: &'r Value,
    budget: Budget,
    /// The card's length so far (JSON text, escapes not counted).
    card: u64,
    card_limit: u64,
    /// Missing values and failed expressions become nothing (see [`Template::trial`]).
    trial: bool,
}

impl<'r> Ctx<'r> {
    fn spent(&self, e: expr::ExprError, at: &At) -> TemplateError {
        TemplateError {
            kind: ErrorKind::Budget,
            pointer: at.pointer(),
            message: format!("the template is too costly to expand: {}", e.message),
        }
    }

    fn step(&mut self, at: &At) -> Result<(), TemplateError> {
        self.budget.step(1).map_err(|e| self.spent(e, at))
    }

    /// `n` more bytes of card, refused past the limit.
    fn grow(&mut self, n: u64, at: &At) -> Result<(), TemplateError> {
        self.card = self.card.saturating_add(n);
        if self.card > self.card_limit {
            return Err(TemplateError {
                kind: ErrorKind::TooBig,
                pointer: at.pointer(),
                message: format!(
                    "the expanded card is over {} bytes (Teams' limit for a message)",
                    self.card_limit
                ),
            });
        }
        Ok(())
    }

    /// Evaluates `e`: `Ok(None)` for a missing value. In a trial, a failed expression is a
    /// missing value; running out of budget is an error in both.
    fn eval<'v>(
        &mut self,
        e: &'v Expr,
        src: &str,
        at: &At,
        data: &'v Value,
        index: Option<usize>,
    ) -> Result<expr::V<'v>, TemplateError>
    where
        'r: 'v,
    {
        let scope = Scope {
            root: self.root,
            data,
            index,
        };
        match eval(e, &scope, &mut self.budget) {
            Ok(v) => Ok(v),
            Err(err) if err.kind == expr::ErrorKind::Budget => Err(self.spent(err, at)),
            Err(_) if self.trial => Ok(None),
            Err(err) => Err(TemplateError {
                kind: ErrorKind::Invalid,
                pointer: at.pointer(),
                message: format!("`${{{src}}}`: {err}"),
            }),
        }
    }

    fn missing(&self, src: &str, at: &At) -> TemplateError {
        TemplateError {
            kind: ErrorKind::Invalid,
            pointer: at.pointer(),
            message: format!("`${{{src}}}` has no value for this recipient"),
        }
    }

    /// A string's value: a whole expression's (any type), or the text with each part bound.
    fn interp<'v>(
        &mut self,
        i: &'v Interp,
        at: &At,
        data: &'v Value,
        index: Option<usize>,
    ) -> Result<Cow<'v, Value>, TemplateError>
    where
        'r: 'v,
    {
        match i {
            Interp::Whole(e, src) => match self.eval(e, src, at, data, index)? {
                Some(v) => Ok(v),
                None if self.trial => Ok(Cow::Owned(Value::Null)),
                None => Err(self.missing(src, at)),
            },
            Interp::Parts(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        Part::Text(t) => s.push_str(t),
                        Part::Expr(e, src) => {
                            let v = match self.eval(e, src, at, data, index)? {
                                Some(v) => v,
                                None if self.trial => continue,
                                None => return Err(self.missing(src, at)),
                            };
                            if v.is_null() {
                                if self.trial {
                                    continue;
                                }
                                return Err(TemplateError {
                                    kind: ErrorKind::Invalid,
                                    pointer: at.pointer(),
                                    message: format!("`${{{src}}}` is null inside a text"),
                                });
                            }
                            let t = to_text_within(&v, &mut self.budget)
                                .map_err(|e| self.spent(e, at))?;
                            s.push_str(&t);
                        }
                    }
                }
                Ok(Cow::Owned(Value::String(s)))
            }
        }
    }

    /// A value written into the card: measured first, copied only if it fits.
    fn emit(&mut self, v: Cow<'_, Value>, at: &At) -> Result<Value, TemplateError> {
        let room = self.card_limit.saturating_sub(self.card);
        self.grow(expr::json_len(&v, room), at)?;
        Ok(v.into_owned())
    }

    /// The value `$data` binds: borrowed from the template or the data where it can be. It is
    /// not part of the card, so it is charged to the budget, not to the card's size.
    fn data_value<'v>(
        &mut self,
        d: &'v Node,
        at: &At,
        data: &'v Value,
        index: Option<usize>,
    ) -> Result<Cow<'v, Value>, TemplateError>
    where
        'r: 'v,
    {
        match d {
            Node::Lit(v, _) => Ok(Cow::Borrowed(v)),
            Node::Str(i) => self.interp(i, at, data, index),
            other => Ok(Cow::Owned(
                match self.node(other, at, data, index, false)? {
                    Expanded::One(v) => v,
                    Expanded::Many(vs) => Value::Array(vs),
                    Expanded::Dropped => Value::Null,
                },
            )),
        }
    }

    /// Expands `n`; `card` tells whether the result goes into the card (measured) or only
    /// feeds a `$data` (charged to the budget).
    fn node(
        &mut self,
        n: &Node,
        at: &At,
        data: &Value,
        index: Option<usize>,
        card: bool,
    ) -> Result<Expanded, TemplateError> {
        self.step(at)?;
        match n {
            Node::Lit(v, len) => {
                if card {
                    self.grow(*len, at)?;
                } else {
                    self.budget
                        .alloc(expr::cost(v, u64::MAX))
                        .map_err(|e| self.spent(e, at))?;
                }
                Ok(Expanded::One(v.clone()))
            }
            Node::Str(i) => {
                let v = self.interp(i, at, data, index)?;
                Ok(Expanded::One(if card {
                    self.emit(v, at)?
                } else {
                    if let Cow::Borrowed(b) = &v {
                        let c = expr::cost(b, self.budget.bytes_left());
                        self.budget.alloc(c).map_err(|e| self.spent(e, at))?;
                    }
                    v.into_owned()
                }))
            }
            Node::Array(items) => {
                if card {
                    self.grow(2, at)?;
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match self.node(item, &at.index(i), data, index, card)? {
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
            Node::Object {
                fields,
                data: d,
                when,
            } => self.object(fields, d.as_deref(), when.as_ref(), at, data, index, card),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn object(
        &mut self,
        fields: &[(String, Node)],
        d: Option<&Node>,
        when: Option<&Interp>,
        at: &At,
        data: &Value,
        index: Option<usize>,
        card: bool,
    ) -> Result<Expanded, TemplateError> {
        let bound = match d {
            None => None,
            Some(d) => Some(self.data_value(d, &at.key("$data"), data, index)?),
        };
        // Each scope the element is expanded in: the item and its index when `$data` is a list.
        let (scopes, repeated): (Vec<(&Value, Option<usize>)>, bool) = match bound.as_deref() {
            None => (vec![(data, index)], false),
            Some(Value::Array(items)) => (
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (x, Some(i)))
                    .collect(),
                true,
            ),
            Some(other) => (vec![(other, index)], false),
        };
        let mut out = Vec::with_capacity(scopes.len().min(64));
        for (data, index) in scopes {
            self.step(at)?;
            if let Some(w) = when {
                // Kept only when the expression is exactly `true`; anything else (a missing
                // value, an error, a string) drops the element, as in Microsoft's engine. Only
                // running out of budget is an error.
                let here = at.key("$when");
                let keep = match self.interp(w, &here, data, index) {
                    Ok(v) => matches!(*v, Value::Bool(true)),
                    Err(e) if e.kind == ErrorKind::Invalid => false,
                    Err(e) => return Err(e),
                };
                if !keep {
                    continue;
                }
            }
            if card {
                self.grow(2, at)?;
            }
            let mut m = Map::with_capacity(fields.len());
            for (k, node) in fields {
                let here = at.key(k);
                if card {
                    self.grow(k.len() as u64 + 3, &here)?;
                }
                let v = match self.node(node, &here, data, index, card)? {
                    Expanded::One(v) => v,
                    Expanded::Many(vs) => Value::Array(vs),
                    Expanded::Dropped => Value::Null,
                };
                m.insert(k.clone(), v);
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

    /// Ten nested containers each repeating over ten items: 10^10 elements.
    fn bomb(depth: usize, innermost: Value) -> Value {
        let mut node = innermost;
        for _ in 0..depth {
            node = json!({"type": "Container", "$data": "${split('0123456789', '')}", "items": [node]});
        }
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [node]})
    }

    #[test]
    fn an_expansion_bomb_stops_at_the_budget_quickly() {
        let started = std::time::Instant::now();
        let t = Template::compile(&bomb(10, json!({"type": "TextBlock", "text": "${$index}"})))
            .unwrap();
        let e = t.trial(&json!({})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooBig, "{e}");
        // Nothing written, only steps spent: 300,000 items each dropped by `$when`.
        let items: Vec<Value> = (0..300_000).map(Value::from).collect();
        let quiet = json!({"type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "TextBlock", "$data": "${items}", "$when": "${$index < 0}", "text": "x"}
        ]});
        let e = Template::compile(&quiet)
            .unwrap()
            .expand(&json!({ "items": items }))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Budget, "{e}");
        assert!(e.message.contains("1000000 steps"), "{}", e.message);
        assert!(e.pointer.starts_with("/body/0"), "{}", e.pointer);
        // Tens of milliseconds in a release build; a debug build is slower.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Two levels (100 elements) are fine.
        let small = bomb(2, json!({"type": "TextBlock", "text": "${$index}"}));
        let out = Template::compile(&small)
            .unwrap()
            .expand(&json!({}))
            .unwrap();
        assert_eq!(out["body"][0]["items"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn data_is_read_in_place_not_copied_per_node() {
        // 2 MB of data and a card of 300 nodes reading one small field of it: copying the data
        // per node (what the engine once did) would cost 600 MB.
        let blob = "x".repeat(2 << 20);
        let items: Vec<Value> = (0..100).map(|i| json!({"n": i})).collect();
        let t = json!({"type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "Container", "$data": "${items}", "items": [
                {"type": "TextBlock", "text": "${n} of ${count($root.items)}", "$when": "${exists($root.blob)}"}
            ]}
        ]});
        let data = json!({"blob": blob, "items": items});
        let out = expand(&t, &data).unwrap();
        assert_eq!(out["body"].as_array().unwrap().len(), 100);
        assert_eq!(out["body"][99]["items"][0]["text"], "99 of 100");
        // Writing the blob into the card is refused before it is copied.
        let e = expand(
            &json!({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "${blob}"}]}),
            &data,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooBig);
        assert_eq!(e.pointer, "/body/0/text");
    }

    #[test]
    fn a_trial_ignores_missing_values_but_not_the_budget() {
        let t = Template::compile(&json!({"type": "AdaptiveCard", "body": [
            {"type": "TextBlock", "text": "Hi ${givenName}, ${1 + nope} ${toUpper(nope)}"},
            {"type": "TextBlock", "$data": "${items}", "text": "${name}"},
            {"type": "TextBlock", "text": "${replace('ab', 'a', 'b')}"}
        ]}))
        .unwrap();
        t.trial(&json!({})).unwrap();
        assert_eq!(t.expand(&json!({})).unwrap_err().kind, ErrorKind::Invalid);
    }

    #[test]
    fn hostile_templates_are_refused_at_compile_time() {
        for text in [
            format!("${{{}", "(".repeat(50_000)),
            format!("${{{}}}", "(".repeat(50_000)),
            format!("${{{}x}}", "!".repeat(100_000)),
            "${'\\é'}".to_owned(),
            format!("${{{}}}", "1+".repeat(5_000) + "1"),
        ] {
            let card =
                json!({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": text}]});
            match Template::compile(&card) {
                Ok(t) => {
                    // An unclosed `${` is plain text (here too big for a card); a valid one
                    // expands.
                    if let Err(e) = t.expand(&json!({})) {
                        assert_eq!(e.kind, ErrorKind::TooBig, "{e}");
                    }
                }
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Invalid);
                    assert_eq!(e.pointer, "/body/0/text");
                }
            }
        }
    }
}
