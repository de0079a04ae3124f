//! The expressions inside `${…}`: a subset of Microsoft's Adaptive Expressions language —
//! literals, property paths (`a.b`, `items[0]`, `a['key']`), `$root`, `$data`, `$index`, the
//! operators `! - ^ * / % + - < <= > >= == != && ||` and the functions listed in [`FUNCTIONS`].
//! Evaluation follows the JavaScript library's rules (what `adaptivecards-templating` uses): only
//! `false`, `null` and a missing value are false; `+` joins strings; integer division floors.
//! Over 600 lines because the lexer, the parser and the evaluator of this one small language
//! share their types and budget; split by stage, each would export its internals to the others.
//!
//!
//! A missing value is kept apart from `null` (as JavaScript's `undefined`), so that a template
//! can tell "this recipient has no such field" from an empty one.
//!
//! Every input is bounded, because a template comes from whoever may call the API: an expression
//! is at most [`MAX_EXPR_CHARS`] long and [`MAX_EXPR_DEPTH`] deep (the parser and the evaluator
//! recurse, and a stack overflow kills the process), and evaluation runs on a [`Budget`] of steps
//! and bytes charged *before* anything large is allocated. Values are borrowed from the data
//! wherever possible ([`V`]), so reading a large field costs nothing until it is copied.

use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// The longest expression (the text between `${` and `}`), in bytes.
pub const MAX_EXPR_CHARS: usize = 4096;
/// How deeply an expression may nest: parentheses, operators, calls, lists, members.
pub const MAX_EXPR_DEPTH: usize = 64;

/// Why an expression failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// It cannot be parsed, or it cannot be evaluated on this data.
    Invalid,
    /// It needs more work or memory than its [`Budget`] allows.
    Budget,
}

/// A parse or evaluation error; the message names the expression's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

fn invalid(message: impl Into<String>) -> ExprError {
    ExprError {
        kind: ErrorKind::Invalid,
        message: message.into(),
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ExprError> {
    Err(invalid(msg))
}

/// What one expansion may spend: evaluation steps (one per expression node, plus one per 32
/// bytes scanned or item walked) and bytes of new values (text, lists and copies of data).
#[derive(Debug)]
pub struct Budget {
    steps: u64,
    bytes: u64,
    max_steps: u64,
    max_bytes: u64,
}

impl Budget {
    pub fn new(max_steps: u64, max_bytes: u64) -> Self {
        Self {
            steps: 0,
            bytes: 0,
            max_steps,
            max_bytes,
        }
    }

    /// Steps and bytes spent so far.
    pub fn spent(&self) -> (u64, u64) {
        (self.steps, self.bytes)
    }

    /// Charges `n` steps.
    pub fn step(&mut self, n: u64) -> Result<(), ExprError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.max_steps {
            return Err(ExprError {
                kind: ErrorKind::Budget,
                message: format!(
                    "evaluating it takes more than {} steps (the templating limit)",
                    self.max_steps
                ),
            });
        }
        Ok(())
    }

    /// Charges reading `bytes` of text.
    pub fn scan(&mut self, bytes: usize) -> Result<(), ExprError> {
        self.step(1 + bytes as u64 / 32)
    }

    /// Charges a new value of `bytes` (see [`cost`]) before it is made.
    pub fn alloc(&mut self, bytes: u64) -> Result<(), ExprError> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.max_bytes {
            return Err(ExprError {
                kind: ErrorKind::Budget,
                message: format!(
                    "its values need more than {} bytes (the templating limit)",
                    self.max_bytes
                ),
            });
        }
        self.step(1)
    }

    /// Room left for new values.
    pub fn bytes_left(&self) -> u64 {
        self.max_bytes.saturating_sub(self.bytes)
    }
}

/// What a value costs in memory, roughly (each JSON node counts 32 bytes beside its text),
/// counted no further than `cap` so that pricing a huge value is cheap.
pub fn cost(v: &Value, cap: u64) -> u64 {
    fn go(v: &Value, cap: u64, acc: &mut u64) {
        *acc += 32;
        match v {
            Value::String(s) => *acc += s.len() as u64,
            Value::Array(items) => {
                for x in items {
                    if *acc > cap {
                        return;
                    }
                    go(x, cap, acc);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    if *acc > cap {
                        return;
                    }
                    *acc += k.len() as u64;
                    go(x, cap, acc);
                }
            }
            _ => {}
        }
    }
    let mut acc = 0;
    go(v, cap, &mut acc);
    acc
}

/// The length of `v` as JSON text, not counting escapes (so never more than the real length),
/// counted no further than `cap`.
pub fn json_len(v: &Value, cap: u64) -> u64 {
    fn go(v: &Value, cap: u64, acc: &mut u64) {
        match v {
            Value::Null | Value::Bool(true) => *acc += 4,
            Value::Bool(false) => *acc += 5,
            Value::Number(_) => *acc += 1,
            Value::String(s) => *acc += s.len() as u64 + 2,
            Value::Array(items) => {
                *acc += 2 + items.len().saturating_sub(1) as u64;
                for x in items {
                    if *acc > cap {
                        return;
                    }
                    go(x, cap, acc);
                }
            }
            Value::Object(o) => {
                *acc += 2 + o.len().saturating_sub(1) as u64;
                for (k, x) in o {
                    if *acc > cap {
                        return;
                    }
                    *acc += k.len() as u64 + 3;
                    go(x, cap, acc);
                }
            }
        }
    }
    let mut acc = 0;
    go(v, cap, &mut acc);
    acc
}

/// The functions Herald evaluates; any other name is refused when the template is accepted.
pub const FUNCTIONS: &[&str] = &[
    "if",
    "concat",
    "toUpper",
    "toLower",
    "length",
    "count",
    "join",
    "string",
    "int",
    "float",
    "bool",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "abs",
    "round",
    "floor",
    "ceiling",
    "equals",
    "not",
    "and",
    "or",
    "empty",
    "exists",
    "contains",
    "startsWith",
    "endsWith",
    "substring",
    "replace",
    "trim",
    "first",
    "last",
    "coalesce",
    "indexOf",
    "split",
    "formatNumber",
    "json",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Ident(String),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Array(Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Pow,
    Mul,
    Div,
    Mod,
    Add,
    Sub,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Punct(&'static str),
}

const PUNCTS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%", "^", "(", ")", "[",
    "]", ",", ".",
];

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Splits an expression into tokens, a character (never a byte) at a time.
fn lex(src: &str) -> Result<Vec<Tok>, ExprError> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_ascii_whitespace() {
            chars.next();
        } else if c.is_ascii_digit() {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if !(d.is_ascii_digit() || d == '.') {
                    break;
                }
                end = j + 1;
                chars.next();
            }
            let text = &src[i..end];
            let n = text
                .parse::<f64>()
                .map_err(|_| invalid(format!("`{text}` is not a number")))?;
            out.push(Tok::Num(n));
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                let Some((_, ch)) = chars.next() else {
                    return fail("a string is not closed");
                };
                if ch == c {
                    break;
                }
                if ch == '\\' {
                    match chars.next() {
                        Some((_, 'n')) => s.push('\n'),
                        Some((_, 't')) => s.push('\t'),
                        Some((_, 'r')) => s.push('\r'),
                        Some((_, other)) => s.push(other),
                        None => return fail("a string is not closed"),
                    }
                    continue;
                }
                s.push(ch);
            }
            out.push(Tok::Str(s));
        } else if is_ident_char(c) || c == '@' {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if !(is_ident_char(d) || (j == i && d == '@')) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            out.push(Tok::Ident(src[i..end].to_owned()));
        } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            for _ in 0..p.len() {
                chars.next();
            }
            out.push(Tok::Punct(p));
        } else {
            return fail(format!("unexpected `{c}`"));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser (precedence climbing)

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// How many parse functions are on the stack (bounds recursion on `((((…` and `!!!!…`).
    nesting: usize,
}

/// An expression and how deep its tree is (bounds recursion on `1+1+1+…`, built in a loop).
type Parsed = (Expr, usize);

fn too_deep<T>() -> Result<T, ExprError> {
    fail(format!(
        "the expression nests deeper than {MAX_EXPR_DEPTH} levels (the templating limit)"
    ))
}

fn node(e: Expr, depth: usize) -> Result<Parsed, ExprError> {
    if depth > MAX_EXPR_DEPTH {
        return too_deep();
    }
    Ok((e, depth))
}

/// Parses one expression (the text between `${` and `}`).
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    if src.len() > MAX_EXPR_CHARS {
        return fail(format!(
            "the expression is {} bytes long; the limit is {MAX_EXPR_CHARS}",
            src.len()
        ));
    }
    let toks = lex(src)?;
    if toks.is_empty() {
        return fail("the expression is empty");
    }
    let mut p = Parser {
        toks,
        pos: 0,
        nesting: 0,
    };
    let (e, _) = p.binary(0)?;
    if p.pos != p.toks.len() {
        return fail(format!("unexpected {:?} in `{src}`", p.toks[p.pos]));
    }
    check_functions(&e)?;
    Ok(e)
}

/// Every property name an expression reads (plain names and members).
pub fn names(e: &Expr, out: &mut std::collections::BTreeSet<String>) {
    match e {
        Expr::Ident(n) => {
            out.insert(n.clone());
        }
        Expr::Member(a, n) => {
            out.insert(n.clone());
            names(a, out);
        }
        Expr::Not(a) | Expr::Neg(a) => names(a, out),
        Expr::Index(a, b) | Expr::Bin(_, a, b) => {
            names(a, out);
            names(b, out);
        }
        Expr::Call(_, args) | Expr::Array(args) => args.iter().for_each(|x| names(x, out)),
        Expr::Lit(_) => {}
    }
}

fn check_functions(e: &Expr) -> Result<(), ExprError> {
    match e {
        Expr::Call(name, args) => {
            if !FUNCTIONS.contains(&name.as_str()) {
                return fail(format!("the function `{name}` is not supported"));
            }
            args.iter().try_for_each(check_functions)
        }
        Expr::Member(a, _) | Expr::Not(a) | Expr::Neg(a) => check_functions(a),
        Expr::Index(a, b) | Expr::Bin(_, a, b) => {
            check_functions(a)?;
            check_functions(b)
        }
        Expr::Array(items) => items.iter().try_for_each(check_functions),
        Expr::Lit(_) | Expr::Ident(_) => Ok(()),
    }
}

fn op_of(t: &Tok) -> Option<(Op, u8)> {
    let Tok::Punct(p) = t else { return None };
    Some(match *p {
        "||" => (Op::Or, 1),
        "&&" => (Op::And, 2),
        "==" => (Op::Eq, 3),
        "!=" => (Op::Ne, 3),
        "<" => (Op::Lt, 4),
        "<=" => (Op::Le, 4),
        ">" => (Op::Gt, 4),
        ">=" => (Op::Ge, 4),
        "+" => (Op::Add, 5),
        "-" => (Op::Sub, 5),
        "*" => (Op::Mul, 6),
        "/" => (Op::Div, 6),
        "%" => (Op::Mod, 6),
        "^" => (Op::Pow, 7),
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), ExprError> {
        if self.eat(p) {
            Ok(())
        } else {
            fail(format!("expected `{p}`"))
        }
    }

    /// Runs `f` one level deeper, refusing to go past the limit.
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Parsed, ExprError>,
    ) -> Result<Parsed, ExprError> {
        if self.nesting >= MAX_EXPR_DEPTH {
            return too_deep();
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    fn binary(&mut self, min: u8) -> Result<Parsed, ExprError> {
        self.nested(|p| {
            let (mut left, mut depth) = p.unary()?;
            while let Some((op, prec)) = p.peek().and_then(op_of) {
                if prec < min {
                    break;
                }
                p.pos += 1;
                // `^` is right-associative; the rest are left-associative.
                let next = if op == Op::Pow { prec } else { prec + 1 };
                let (right, d) = p.binary(next)?;
                (left, depth) = node(
                    Expr::Bin(op, Box::new(left), Box::new(right)),
                    1 + depth.max(d),
                )?;
            }
            Ok((left, depth))
        })
    }

    fn unary(&mut self) -> Result<Parsed, ExprError> {
        if self.eat("!") {
            let (e, d) = self.nested(Self::unary)?;
            return node(Expr::Not(Box::new(e)), d + 1);
        }
        if self.eat("-") {
            let (e, d) = self.nested(Self::unary)?;
            return node(Expr::Neg(Box::new(e)), d + 1);
        }
        if self.eat("+") {
            return self.nested(Self::unary);
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Parsed, ExprError> {
        let (mut e, mut depth) = self.primary()?;
        loop {
            if self.eat(".") {
                match self.toks.get(self.pos).cloned() {
                    Some(Tok::Ident(name)) => {
                        self.pos += 1;
                        (e, depth) = node(Expr::Member(Box::new(e), name), depth + 1)?;
                    }
                    _ => return fail("expected a property name after `.`"),
                }
            } else if self.eat("[") {
                let (idx, d) = self.binary(0)?;
                self.expect("]")?;
                (e, depth) = node(Expr::Index(Box::new(e), Box::new(idx)), 1 + depth.max(d))?;
            } else {
                return Ok((e, depth));
            }
        }
    }

    /// Comma-separated expressions up to `close`; returns them and the deepest one's depth.
    fn list(&mut self, close: &str) -> Result<(Vec<Expr>, usize), ExprError> {
        let mut items = Vec::new();
        let mut depth = 0;
        if !self.eat(close) {
            loop {
                let (e, d) = self.binary(0)?;
                items.push(e);
                depth = depth.max(d);
                if self.eat(close) {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok((items, depth))
    }

    fn primary(&mut self) -> Result<Parsed, ExprError> {
        let Some(t) = self.toks.get(self.pos).cloned() else {
            return fail("the expression ends too soon");
        };
        self.pos += 1;
        match t {
            Tok::Num(n) => Ok((Expr::Lit(number(n)), 1)),
            Tok::Str(s) => Ok((Expr::Lit(Value::String(s)), 1)),
            Tok::Ident(name) => {
                if self.eat("(") {
                    let (args, d) = self.list(")")?;
                    return node(Expr::Call(name, args), d + 1);
                }
                Ok((
                    match name.as_str() {
                        "true" => Expr::Lit(Value::Bool(true)),
                        "false" => Expr::Lit(Value::Bool(false)),
                        "null" => Expr::Lit(Value::Null),
                        _ => Expr::Ident(name),
                    },
                    1,
                ))
            }
            Tok::Punct("(") => {
                let e = self.binary(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                let (items, d) = self.list("]")?;
                node(Expr::Array(items), d + 1)
            }
            Tok::Punct(p) => fail(format!("unexpected `{p}`")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// A JavaScript-like number: integral values are kept as integers, like JSON.stringify prints them.
pub fn number(n: f64) -> Value {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// What a scope resolves names against.
pub struct Scope<'a> {
    pub root: &'a Value,
    pub data: &'a Value,
    pub index: Option<usize>,
}

/// A value, borrowed from the template or the data where it can be; `None` is a missing value
/// (JavaScript's `undefined`).
pub type V<'a> = Option<Cow<'a, Value>>;

/// JavaScript's `String(v)`, as values print inside text: lists joined with commas, objects as
/// `[object Object]`, `null` inside a list as nothing.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => js_number(n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(to_text).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// [`to_text`], charged to the budget first.
pub fn to_text_within(v: &Value, b: &mut Budget) -> Result<String, ExprError> {
    if let Value::String(s) = v {
        b.alloc(s.len() as u64)?;
        return Ok(s.clone());
    }
    // `[object Object]` is longer than `{}`: allow for it.
    b.alloc(cost(v, b.bytes_left()))?;
    Ok(to_text(v))
}

fn js_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i128)
    } else {
        format!("{n}")
    }
}

/// Adaptive Expressions' truth: only `false`, `null` and a missing value are false.
pub fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

fn num(v: Option<&Value>, f: &str) -> Result<f64, ExprError> {
    match v {
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(0.0)),
        Some(other) => fail(format!("{f} needs a number, not {}", short(other))),
        None => fail(format!("{f} needs a number, but the value is missing")),
    }
}

fn text<'v>(v: Option<&'v Value>, f: &str) -> Result<&'v str, ExprError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(other) => fail(format!("{f} needs text, not {}", short(other))),
        None => fail(format!("{f} needs text, but the value is missing")),
    }
}

/// A value as an error message shows it: at most 60 characters.
fn short(v: &Value) -> String {
    let t = match v {
        Value::Array(_) | Value::Object(_) => {
            let kind = if v.is_array() { "a list" } else { "an object" };
            return kind.into();
        }
        other => to_text(other),
    };
    if t.chars().count() > 60 {
        format!("{}…", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

/// Text or null-as-empty (what several text functions accept).
fn text_or_empty<'v>(v: Option<&'v Value>, f: &str) -> Result<&'v str, ExprError> {
    match v {
        None | Some(Value::Null) => Ok(""),
        v => text(v, f),
    }
}

fn is_int(v: &Value) -> bool {
    v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// The part of `v` that `pick` selects: borrowed from borrowed data, copied (and charged) from a
/// value made during evaluation.
fn project<'a>(
    v: Cow<'a, Value>,
    b: &mut Budget,
    pick: impl for<'x> Fn(&'x Value) -> Option<&'x Value>,
) -> Result<V<'a>, ExprError> {
    match v {
        Cow::Borrowed(r) => Ok(pick(r).map(Cow::Borrowed)),
        Cow::Owned(o) => match pick(&o) {
            None => Ok(None),
            Some(x) => {
                b.alloc(cost(x, b.bytes_left()))?;
                Ok(Some(Cow::Owned(x.clone())))
            }
        },
    }
}

/// A property of an object, exact first and then without case (as adaptive-expressions does).
fn get<'x>(v: &'x Value, key: &str) -> Option<&'x Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Property lookup, and `length` of a list.
fn member<'a>(v: V<'a>, key: &str, b: &mut Budget) -> Result<V<'a>, ExprError> {
    let Some(v) = v else { return Ok(None) };
    match &*v {
        Value::Object(o) => {
            if !o.contains_key(key) {
                // The case-insensitive search walks every key.
                b.step(o.len() as u64)?;
            }
            project(v, b, |x| get(x, key))
        }
        Value::Array(a) if key == "length" => Ok(Some(Cow::Owned(Value::from(a.len())))),
        _ => Ok(None),
    }
}

fn equal(a: Option<&Value>, b: Option<&Value>, budget: &mut Budget) -> Result<bool, ExprError> {
    budget.step(1)?;
    Ok(match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(x), Some(y)) => {
            if std::mem::discriminant(x) != std::mem::discriminant(y) {
                return Ok(false);
            }
            budget.scan(json_len(x, 32 * budget.max_steps) as usize)?;
            x == y
        }
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Evaluates `e` in `s`, spending from `b`.
pub fn eval<'a>(e: &'a Expr, s: &Scope<'a>, b: &mut Budget) -> Result<V<'a>, ExprError> {
    b.step(1)?;
    Ok(match e {
        Expr::Lit(v) => Some(Cow::Borrowed(v)),
        Expr::Ident(name) => match name.as_str() {
            "$root" => Some(Cow::Borrowed(s.root)),
            "$data" => Some(Cow::Borrowed(s.data)),
            "$index" => s.index.map(|i| Cow::Owned(Value::from(i))),
            // The templating engine's version (adaptivecards-templating 2.3).
            "$_acTemplateVersion" => Some(Cow::Owned(serde_json::json!({"major": 2, "minor": 3}))),
            _ => member(Some(Cow::Borrowed(s.data)), name, b)?,
        },
        Expr::Member(obj, key) => {
            let o = eval(obj, s, b)?;
            member(o, key, b)?
        }
        Expr::Index(obj, idx) => {
            let o = eval(obj, s, b)?;
            let i = eval(idx, s, b)?;
            match (o, i.as_deref()) {
                (Some(o), Some(Value::Number(n))) if o.is_array() => {
                    let Some(at) = n
                        .as_f64()
                        .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < usize::MAX as f64)
                    else {
                        return Ok(None);
                    };
                    project(o, b, |x| x.as_array().and_then(|a| a.get(at as usize)))?
                }
                (o, Some(Value::String(k))) => member(o, k, b)?,
                _ => None,
            }
        }
        Expr::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(match eval(i, s, b)? {
                    None => Value::Null,
                    Some(Cow::Owned(v)) => v,
                    Some(Cow::Borrowed(v)) => {
                        b.alloc(cost(v, b.bytes_left()))?;
                        v.clone()
                    }
                });
            }
            Some(Cow::Owned(Value::Array(out)))
        }
        Expr::Not(a) => Some(Cow::Owned(Value::Bool(!truthy(eval(a, s, b)?.as_deref())))),
        Expr::Neg(a) => Some(Cow::Owned(number(-num(eval(a, s, b)?.as_deref(), "-")?))),
        Expr::Bin(Op::And, x, y) => {
            let v = truthy(eval(x, s, b)?.as_deref()) && truthy(eval(y, s, b)?.as_deref());
            Some(Cow::Owned(Value::Bool(v)))
        }
        Expr::Bin(Op::Or, x, y) => {
            let v = truthy(eval(x, s, b)?.as_deref()) || truthy(eval(y, s, b)?.as_deref());
            Some(Cow::Owned(Value::Bool(v)))
        }
        Expr::Bin(op, x, y) => {
            let (x, y) = (eval(x, s, b)?, eval(y, s, b)?);
            Some(Cow::Owned(binary(*op, x.as_deref(), y.as_deref(), b)?))
        }
        Expr::Call(name, args) => {
            if name == "if" {
                if args.len() != 3 {
                    return fail("if takes a condition and two values");
                }
                let c = truthy(eval(&args[0], s, b)?.as_deref());
                return eval(&args[if c { 1 } else { 2 }], s, b);
            }
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, s, b)?);
            }
            call(name, vals, b)?
        }
    })
}

/// Text joined from parts, charged before it is made.
fn joined(parts: &[&str], b: &mut Budget) -> Result<String, ExprError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    b.alloc(len as u64)?;
    Ok(parts.concat())
}

fn binary(
    op: Op,
    a: Option<&Value>,
    b: Option<&Value>,
    budget: &mut Budget,
) -> Result<Value, ExprError> {
    let name = match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Div => "/",
        Op::Mod => "%",
        Op::Pow => "^",
        _ => "comparison",
    };
    Ok(match op {
        Op::Eq => Value::Bool(equal(a, b, budget)?),
        Op::Ne => Value::Bool(!equal(a, b, budget)?),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match (a, b) {
                (Some(Value::Number(x)), Some(Value::Number(y))) => {
                    x.as_f64().partial_cmp(&y.as_f64())
                }
                (Some(Value::String(x)), Some(Value::String(y))) => {
                    budget.scan(x.len().min(y.len()))?;
                    Some(x.cmp(y))
                }
                _ => {
                    return fail(format!(
                        "cannot compare {} with {}",
                        a.map_or("a missing value".into(), short),
                        b.map_or("a missing value".into(), short)
                    ))
                }
            };
            let Some(ord) = ord else {
                return Ok(Value::Bool(false));
            };
            Value::Bool(match op {
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
                Op::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        Op::Add => match (a, b) {
            (Some(Value::Number(_)), Some(Value::Number(_))) => {
                number(num(a, name)? + num(b, name)?)
            }
            (Some(x), Some(y)) => {
                let (x, y) = (to_text_within(x, budget)?, to_text_within(y, budget)?);
                Value::String(joined(&[&x, &y], budget)?)
            }
            _ => return fail("+ needs two values, but one is missing"),
        },
        Op::Sub => number(num(a, name)? - num(b, name)?),
        Op::Mul => number(num(a, name)? * num(b, name)?),
        Op::Pow => number(num(a, name)?.powf(num(b, name)?)),
        Op::Div | Op::Mod => {
            let (x, y) = (num(a, name)?, num(b, name)?);
            if y == 0.0 {
                return fail("division by zero");
            }
            let ints = a.is_some_and(is_int) && b.is_some_and(is_int);
            match op {
                Op::Div if ints => number((x / y).floor()),
                Op::Div => number(x / y),
                _ if ints => number(x % y),
                _ => return fail("% and mod need whole numbers"),
            }
        }
        Op::And | Op::Or => unreachable!("handled with short-circuit"),
    })
}

fn arity(name: &str, n: usize, min: usize, max: usize) -> Result<(), ExprError> {
    if n < min || n > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return fail(format!("{name} takes {want} argument(s), not {n}"));
    }
    Ok(())
}

fn owned<'a>(v: Value) -> V<'a> {
    Some(Cow::Owned(v))
}

fn call<'a>(name: &str, mut args: Vec<V<'a>>, b: &mut Budget) -> Result<V<'a>, ExprError> {
    let n = args.len();
    let one = |min, max| arity(name, n, min, max);
    // The functions that return one of their arguments take it without copying.
    match name {
        "first" | "last" => {
            one(1, 1)?;
            let v = args.pop().flatten();
            return Ok(match v {
                Some(v) if v.is_array() => {
                    let first = name == "first";
                    project(v, b, |x| {
                        let a = x.as_array()?;
                        if first {
                            a.first()
                        } else {
                            a.last()
                        }
                    })?
                }
                Some(v) => match &*v {
                    Value::String(s) => {
                        let c = if name == "first" {
                            s.chars().next()
                        } else {
                            s.chars().next_back()
                        };
                        c.map(|c| Cow::Owned(Value::String(c.to_string())))
                    }
                    _ => None,
                },
                None => None,
            });
        }
        "coalesce" => {
            one(1, usize::MAX)?;
            return Ok(Some(
                args.into_iter()
                    .flatten()
                    .find(|v| !v.is_null())
                    .unwrap_or(Cow::Owned(Value::Null)),
            ));
        }
        _ => {}
    }
    let a: Vec<Option<&Value>> = args.iter().map(|v| v.as_deref()).collect();
    Ok(match name {
        "concat" => {
            one(1, usize::MAX)?;
            if a.iter().all(|v| matches!(v, Some(Value::Array(_)))) {
                let mut out = Vec::new();
                for v in a.iter().flatten() {
                    b.alloc(cost(v, b.bytes_left()))?;
                    out.extend(v.as_array().cloned().unwrap_or_default());
                }
                owned(Value::Array(out))
            } else {
                let mut parts = Vec::with_capacity(a.len());
                for v in a.iter().flatten() {
                    parts.push(to_text_within(v, b)?);
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                owned(Value::String(joined(&refs, b)?))
            }
        }
        "toUpper" | "toLower" | "trim" => {
            one(1, 1)?;
            let s = text_or_empty(a[0], name)?;
            // Case mapping can lengthen text (ß → SS): at most threefold.
            b.alloc(3 * s.len() as u64)?;
            owned(Value::String(match name {
                "toUpper" => s.to_uppercase(),
                "toLower" => s.to_lowercase(),
                _ => s.trim().to_owned(),
            }))
        }
        "length" | "count" => {
            one(1, 1)?;
            owned(Value::from(match a[0] {
                Some(Value::String(s)) => {
                    b.scan(s.len())?;
                    s.encode_utf16().count()
                }
                Some(Value::Array(x)) => x.len(),
                _ => return fail(format!("{name} needs text or a list")),
            }))
        }
        "join" => {
            one(2, 3)?;
            let Some(Value::Array(items)) = a[0] else {
                return fail("join needs a list");
            };
            let sep = text(a[1], name)?;
            let mut parts = Vec::with_capacity(items.len());
            for i in items {
                parts.push(to_text_within(i, b)?);
            }
            b.alloc((sep.len() * parts.len()) as u64)?;
            owned(Value::String(match (a.get(2), parts.len()) {
                (Some(last), n) if n > 1 => {
                    let last = text(*last, name)?;
                    b.alloc(last.len() as u64)?;
                    format!("{}{last}{}", parts[..n - 1].join(sep), parts[n - 1])
                }
                _ => parts.join(sep),
            }))
        }
        "string" => {
            one(1, 1)?;
            owned(Value::String(match a[0] {
                Some(v @ (Value::Array(_) | Value::Object(_))) => {
                    b.alloc(cost(v, b.bytes_left()))?;
                    v.to_string()
                }
                Some(v) => to_text_within(v, b)?,
                None => "undefined".into(),
            }))
        }
        "int" | "float" => {
            one(1, 1)?;
            let n = match a[0] {
                Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                Some(Value::String(s)) => {
                    b.scan(s.len())?;
                    s.trim().parse::<f64>().map_err(|_| {
                        invalid(format!(
                            "{name}: `{}` is not a number",
                            short(a[0].unwrap_or(&Value::Null))
                        ))
                    })?
                }
                Some(Value::Bool(x)) => f64::from(u8::from(*x)),
                _ => return fail(format!("{name} needs a number or numeric text")),
            };
            owned(number(if name == "int" { n.trunc() } else { n }))
        }
        "bool" => {
            one(1, 1)?;
            owned(Value::Bool(match a[0] {
                Some(Value::String(s)) => !(s.eq_ignore_ascii_case("false") || s.is_empty()),
                Some(Value::Number(n)) => n.as_f64() != Some(0.0),
                v => truthy(v),
            }))
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            one(2, usize::MAX)?;
            let op = match name {
                "add" => Op::Add,
                "sub" => Op::Sub,
                "mul" => Op::Mul,
                "div" => Op::Div,
                _ => Op::Mod,
            };
            let mut acc = binary(op, a[0], a[1], b)?;
            for v in &a[2..] {
                acc = binary(op, Some(&acc), *v, b)?;
            }
            owned(acc)
        }
        "max" | "min" => {
            one(1, usize::MAX)?;
            let list: Vec<Option<&Value>> = match (a[0], a.len()) {
                (Some(Value::Array(x)), 1) => x.iter().map(Some).collect(),
                _ => a.clone(),
            };
            b.step(list.len() as u64)?;
            let mut best: Option<f64> = None;
            for v in list {
                let n = num(v, name)?;
                best = Some(match best {
                    None => n,
                    Some(m) if name == "max" => m.max(n),
                    Some(m) => m.min(n),
                });
            }
            best.map(|n| Cow::Owned(number(n)))
        }
        "abs" | "floor" | "ceiling" => {
            one(1, 1)?;
            let n = num(a[0], name)?;
            owned(number(match name {
                "abs" => n.abs(),
                "floor" => n.floor(),
                _ => n.ceil(),
            }))
        }
        "round" => {
            one(1, 2)?;
            let n = num(a[0], name)?;
            let digits = if a.len() == 2 { num(a[1], name)? } else { 0.0 };
            let f = 10f64.powf(digits);
            owned(number((n * f).round() / f))
        }
        "equals" => {
            one(2, 2)?;
            owned(Value::Bool(equal(a[0], a[1], b)?))
        }
        "not" => {
            one(1, 1)?;
            owned(Value::Bool(!truthy(a[0])))
        }
        "and" => {
            one(1, usize::MAX)?;
            owned(Value::Bool(a.iter().all(|v| truthy(*v))))
        }
        "or" => {
            one(1, usize::MAX)?;
            owned(Value::Bool(a.iter().any(|v| truthy(*v))))
        }
        "empty" => {
            one(1, 1)?;
            owned(Value::Bool(match a[0] {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Array(x)) => x.is_empty(),
                Some(Value::Object(o)) => o.is_empty(),
                _ => false,
            }))
        }
        "exists" => {
            one(1, 1)?;
            owned(Value::Bool(!matches!(a[0], None | Some(Value::Null))))
        }
        "contains" => {
            one(2, 2)?;
            owned(Value::Bool(match (a[0], a[1]) {
                (Some(Value::String(s)), Some(Value::String(x))) => {
                    b.scan(s.len())?;
                    s.contains(x.as_str())
                }
                (Some(Value::Array(items)), x) => {
                    let mut found = false;
                    for i in items {
                        if equal(Some(i), x, b)? {
                            found = true;
                            break;
                        }
                    }
                    found
                }
                (Some(Value::Object(o)), Some(Value::String(k))) => o.contains_key(k),
                _ => false,
            }))
        }
        "startsWith" | "endsWith" => {
            one(2, 2)?;
            let s = text_or_empty(a[0], name)?;
            let x = text_or_empty(a[1], name)?;
            b.scan(x.len())?;
            owned(Value::Bool(if name == "startsWith" {
                s.starts_with(x)
            } else {
                s.ends_with(x)
            }))
        }
        "substring" => {
            one(2, 3)?;
            let t = text(a[0], name)?;
            b.alloc(2 * t.len() as u64)?;
            let s: Vec<u16> = t.encode_utf16().collect();
            let start = num(a[1], name)?;
            let len = if a.len() == 3 {
                num(a[2], name)?
            } else {
                s.len() as f64 - start
            };
            if start < 0.0 || len < 0.0 || start + len > s.len() as f64 {
                return fail(format!(
                    "substring({start}, {len}) is outside a text of {} characters",
                    s.len()
                ));
            }
            let (st, ln) = (start as usize, len as usize);
            owned(Value::String(String::from_utf16_lossy(&s[st..st + ln])))
        }
        "replace" => {
            one(3, 3)?;
            let s = text(a[0], name)?;
            let old = text(a[1], name)?;
            if old.is_empty() {
                return fail("replace needs a non-empty text to replace");
            }
            let new = text_or_empty(a[2], name)?;
            b.scan(s.len())?;
            // The result's length is known before it is made: `replace(x, 'a', x)` squares it.
            let hits = s.matches(old).count() as u64;
            let len = s.len() as u64 - hits * old.len() as u64 + hits * new.len() as u64;
            b.alloc(len)?;
            owned(Value::String(s.replace(old, new)))
        }
        "indexOf" => {
            one(2, 2)?;
            owned(Value::from(match (a[0], a[1]) {
                (Some(Value::String(s)), Some(Value::String(x))) => {
                    b.scan(s.len())?;
                    s.find(x.as_str())
                        .map_or(-1, |i| s[..i].encode_utf16().count() as i64)
                }
                (Some(Value::Array(items)), x) => {
                    let mut at = -1;
                    for (i, item) in items.iter().enumerate() {
                        if equal(Some(item), x, b)? {
                            at = i as i64;
                            break;
                        }
                    }
                    at
                }
                _ => return fail("indexOf needs text or a list"),
            }))
        }
        "split" => {
            one(1, 2)?;
            let s = text(a[0], name)?;
            let sep = if a.len() == 2 { text(a[1], name)? } else { "" };
            b.scan(s.len())?;
            let parts = if sep.is_empty() {
                s.chars().count()
            } else {
                s.matches(sep).count() + 1
            };
            b.alloc(s.len() as u64 + 32 * parts as u64)?;
            owned(Value::Array(if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::String(p.to_owned())).collect()
            }))
        }
        "formatNumber" => {
            one(2, 3)?;
            let n = num(a[0], name)?;
            let digits = num(a[1], name)?;
            if !(0.0..=20.0).contains(&digits) {
                return fail("formatNumber's precision must be 0 to 20");
            }
            // Rounded half up first (JavaScript's Math.round on n·10^p), then printed with
            // en-US grouping; negatives carry the Unicode minus, as d3-format prints them.
            let f = 10f64.powi(digits as i32);
            let rounded = (n * f + 0.5).floor() / f;
            let text = group_thousands(&format!("{:.*}", digits as usize, rounded.abs()));
            owned(Value::String(if rounded < 0.0 {
                format!("\u{2212}{text}")
            } else {
                text
            }))
        }
        "json" => {
            one(1, 1)?;
            let t = text(a[0], name)?;
            // Parsed JSON takes up to 16 times its text in memory (`[0,0,…]`).
            b.alloc(16 * t.len() as u64)?;
            owned(serde_json::from_str(t).map_err(|e| invalid(format!("json: {e}")))?)
        }
        other => return fail(format!("the function `{other}` is not supported")),
    })
}

/// `1234567.891` → `1,234,567.891` (en-US grouping, what formatNumber prints by default).
fn group_thousands(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// A convenience for tests and callers holding plain JSON maps.
pub fn object(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_owned(), v.clone());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn try_run(src: &str, data: &Value, b: &mut Budget) -> Result<Option<Value>, ExprError> {
        let e = parse(src)?;
        let s = Scope {
            root: data,
            data,
            index: None,
        };
        Ok(eval(&e, &s, b)?.map(Cow::into_owned))
    }

    fn run(src: &str, data: Value) -> Option<Value> {
        try_run(src, &data, &mut Budget::new(1_000_000, 1 << 20)).unwrap()
    }

    #[test]
    fn operators_and_paths() {
        let d = json!({"a": {"b": [1, {"c": "x"}]}, "n": 7, "s": "Ann", "first name": "Bo"});
        assert_eq!(run("a.b[1].c", d.clone()), Some(json!("x")));
        assert_eq!(run("n / 2", d.clone()), Some(json!(3)));
        assert_eq!(run("1 + 2 * 3 ^ 2", d.clone()), Some(json!(19)));
        assert_eq!(run("'Hi ' + s", d.clone()), Some(json!("Hi Ann")));
        assert_eq!(run("n > 2 && !(s == 'Bob')", d.clone()), Some(json!(true)));
        assert_eq!(run("missing", d.clone()), None);
        assert_eq!(run("$root['first name']", d.clone()), Some(json!("Bo")));
        assert_eq!(run("N", d.clone()), Some(json!(7)));
        assert_eq!(run("-7 / 2", d.clone()), Some(json!(-4)));
        assert_eq!(run("$root.s", d.clone()), Some(json!("Ann")));
    }

    #[test]
    fn functions() {
        let d = json!({"items": ["a", "b", "c"], "n": 1234.5});
        assert_eq!(
            run("join(items, ', ', ' and ')", d.clone()),
            Some(json!("a, b and c"))
        );
        assert_eq!(
            run("if(count(items) > 2, 'many', 'few')", d.clone()),
            Some(json!("many"))
        );
        assert_eq!(
            run("formatNumber(n, 2)", d.clone()),
            Some(json!("1,234.50"))
        );
        assert_eq!(
            run("toUpper(concat('a', 'b'))", d.clone()),
            Some(json!("AB"))
        );
        assert_eq!(run("coalesce(nope, 'x')", d.clone()), Some(json!("x")));
        assert!(parse("frobnicate(1)")
            .unwrap_err()
            .message
            .contains("frobnicate"));
        assert!(parse("1 +").is_err());
    }

    #[test]
    fn hostile_sources_are_refused_without_crashing() {
        // Each once overflowed the stack or panicked.
        for src in [
            format!("{}1", "(".repeat(50_000)),
            format!("{}x", "!".repeat(100_000)),
            format!("{}1", "-".repeat(100_000)),
            vec!["1"; 2_000].join("+"),
            format!("{}1{}", "[".repeat(1000), "]".repeat(1000)),
            format!("{}1{}", "f(".repeat(1000), ")".repeat(1000)),
            format!("a{}", ".b".repeat(2000)),
            format!("a{}", "[0]".repeat(2000)),
        ] {
            let e = parse(&src).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Invalid);
            assert!(
                e.message.contains("deeper than") || e.message.contains("bytes long"),
                "{}",
                e.message
            );
        }
        // 64 levels are fine.
        assert!(parse(&format!("{}1{}", "(".repeat(60), ")".repeat(60))).is_ok());
        // Escapes before a multi-byte character, and stray multi-byte characters.
        assert_eq!(run(r"'\é'", json!({})), Some(json!("é")));
        assert_eq!(run(r"'a\€b'", json!({})), Some(json!("a€b")));
        assert!(parse("1 § 2").unwrap_err().message.contains('§'));
        assert!(parse(r"'\").is_err());
        assert_eq!(run("naïve", json!({"naïve": 1})), Some(json!(1)));
    }

    #[test]
    fn evaluation_is_charged_before_memory_is_spent() {
        let big = "x".repeat(20_000);
        let d = json!({"s": big, "list": (0..1000).collect::<Vec<_>>()});
        let mut b = Budget::new(1_000_000, 1 << 20);
        // replace(s, 'x', s) would be 400 MB.
        let e = try_run("replace(s, 'x', s)", &d, &mut b).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Budget, "{}", e.message);
        assert!(e.message.contains("bytes"), "{}", e.message);
        let mut b = Budget::new(1_000_000, 1 << 20);
        let many = vec!["s"; 100].join(", ");
        let e = try_run(&format!("concat({many})"), &d, &mut b).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Budget);
        // Reading a big value costs nothing; copying it does.
        let mut b = Budget::new(1_000, 1 << 20);
        assert_eq!(
            try_run("length(s)", &d, &mut b).unwrap(),
            Some(json!(20_000))
        );
        assert_eq!(b.spent().1, 0);
        let mut b = Budget::new(10, 1 << 20);
        let e = try_run("contains(list, 999) && contains(list, 998)", &d, &mut b).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Budget);
        assert!(e.message.contains("10 steps"), "{}", e.message);
        // Errors quote values briefly.
        let e = try_run("s * 2", &d, &mut Budget::new(1000, 1 << 20)).unwrap_err();
        assert!(e.message.len() < 200, "{}", e.message);
    }
}
