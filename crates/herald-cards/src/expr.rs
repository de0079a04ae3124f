//! The expressions inside `${…}`: a subset of Microsoft's Adaptive Expressions language —
//! literals, property paths (`a.b`, `items[0]`, `a['key']`), `$root`, `$data`, `$index`, the
//! operators `! - ^ * / % + - < <= > >= == != && ||` and the functions listed in [`FUNCTIONS`].
//! Evaluation follows the JavaScript library's rules (what `adaptivecards-templating` uses): only
//! `false`, `null` and a missing value are false; `+` joins strings; integer division truncates.
//!
//! A missing value is kept apart from `null` (as JavaScript's `undefined`), so that a template
//! can tell "this recipient has no such field" from an empty one.

use serde_json::{Map, Number, Value};
use std::fmt;

/// A parse or evaluation error; the message names the expression's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(msg.into()))
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

fn lex(src: &str) -> Result<Vec<Tok>, ExprError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let text = &src[start..i];
            let n = text
                .parse::<f64>()
                .map_err(|_| ExprError(format!("`{text}` is not a number")))?;
            out.push(Tok::Num(n));
        } else if c == b'\'' || c == b'"' {
            let quote = c;
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&ch) = b.get(i) else {
                    return fail("a string is not closed");
                };
                if ch == quote {
                    i += 1;
                    break;
                }
                if ch == b'\\' && i + 1 < b.len() {
                    let next = b[i + 1];
                    s.push(match next {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        other => other as char,
                    });
                    i += 2;
                    continue;
                }
                // Copy the whole UTF-8 character.
                let len = utf8_len(ch);
                s.push_str(&src[i..i + len]);
                i += len;
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'@' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_owned()));
        } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            out.push(Tok::Punct(p));
            i += p.len();
        } else {
            return fail(format!("unexpected `{}`", &src[i..i + utf8_len(c)]));
        }
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Parser (precedence climbing)

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

/// Parses one expression (the text between `${` and `}`).
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return fail("the expression is empty");
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.binary(0)?;
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

    fn binary(&mut self, min: u8) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while let Some((op, prec)) = self.peek().and_then(op_of) {
            if prec < min {
                break;
            }
            self.pos += 1;
            // `^` is right-associative; the rest are left-associative.
            let next = if op == Op::Pow { prec } else { prec + 1 };
            let right = self.binary(next)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                match self.toks.get(self.pos).cloned() {
                    Some(Tok::Ident(name)) => {
                        self.pos += 1;
                        e = Expr::Member(Box::new(e), name);
                    }
                    _ => return fail("expected a property name after `.`"),
                }
            } else if self.eat("[") {
                let idx = self.binary(0)?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let Some(t) = self.toks.get(self.pos).cloned() else {
            return fail("the expression ends too soon");
        };
        self.pos += 1;
        match t {
            Tok::Num(n) => Ok(Expr::Lit(number(n))),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Ident(name) => {
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.binary(0)?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    return Ok(Expr::Call(name, args));
                }
                Ok(match name.as_str() {
                    "true" => Expr::Lit(Value::Bool(true)),
                    "false" => Expr::Lit(Value::Bool(false)),
                    "null" => Expr::Lit(Value::Null),
                    _ => Expr::Ident(name),
                })
            }
            Tok::Punct("(") => {
                let e = self.binary(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.binary(0)?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Ok(Expr::Array(items))
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

/// `None` is a missing value (JavaScript's `undefined`).
pub type V = Option<Value>;

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

fn js_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i128)
    } else {
        format!("{n}")
    }
}

/// Adaptive Expressions' truth: only `false`, `null` and a missing value are false.
pub fn truthy(v: &V) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

fn num(v: &V, f: &str) -> Result<f64, ExprError> {
    match v {
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(0.0)),
        Some(other) => fail(format!("{f} needs a number, not {}", to_text(other))),
        None => fail(format!("{f} needs a number, but the value is missing")),
    }
}

fn text<'v>(v: &'v V, f: &str) -> Result<&'v str, ExprError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(other) => fail(format!("{f} needs text, not {}", to_text(other))),
        None => fail(format!("{f} needs text, but the value is missing")),
    }
}

fn is_int(v: &Value) -> bool {
    v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Property lookup: exact first, then without case (as adaptive-expressions does).
fn member(v: &V, key: &str) -> V {
    match v {
        Some(Value::Object(o)) => o.get(key).cloned().or_else(|| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        }),
        Some(Value::Array(a)) if key == "length" => Some(Value::from(a.len())),
        _ => None,
    }
}

fn equal(a: &V, b: &V) -> bool {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

pub fn eval(e: &Expr, s: &Scope) -> Result<V, ExprError> {
    Ok(match e {
        Expr::Lit(v) => Some(v.clone()),
        Expr::Ident(name) => match name.as_str() {
            "$root" => Some(s.root.clone()),
            "$data" => Some(s.data.clone()),
            "$index" => s.index.map(Value::from),
            // The templating engine's version (adaptivecards-templating 2.3).
            "$_acTemplateVersion" => Some(serde_json::json!({"major": 2, "minor": 3})),
            _ => member(&Some(s.data.clone()), name),
        },
        Expr::Member(obj, key) => member(&eval(obj, s)?, key),
        Expr::Index(obj, idx) => {
            let o = eval(obj, s)?;
            match (&o, eval(idx, s)?) {
                (Some(Value::Array(a)), Some(Value::Number(n))) => n
                    .as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .and_then(|f| a.get(f as usize).cloned()),
                (_, Some(Value::String(k))) => member(&o, &k),
                _ => None,
            }
        }
        Expr::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|i| eval(i, s).map(|v| v.unwrap_or(Value::Null)))
                .collect::<Result<_, _>>()?,
        )),
        Expr::Not(a) => Some(Value::Bool(!truthy(&eval(a, s)?))),
        Expr::Neg(a) => Some(number(-num(&eval(a, s)?, "-")?)),
        Expr::Bin(Op::And, a, b) => Some(Value::Bool(truthy(&eval(a, s)?) && truthy(&eval(b, s)?))),
        Expr::Bin(Op::Or, a, b) => Some(Value::Bool(truthy(&eval(a, s)?) || truthy(&eval(b, s)?))),
        Expr::Bin(op, a, b) => binary(*op, &eval(a, s)?, &eval(b, s)?)?,
        Expr::Call(name, args) => {
            if name == "if" {
                if args.len() != 3 {
                    return fail("if takes a condition and two values");
                }
                let c = truthy(&eval(&args[0], s)?);
                return eval(&args[if c { 1 } else { 2 }], s);
            }
            let vals = args
                .iter()
                .map(|a| eval(a, s))
                .collect::<Result<Vec<_>, _>>()?;
            call(name, &vals)?
        }
    })
}

fn binary(op: Op, a: &V, b: &V) -> Result<V, ExprError> {
    let name = match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Div => "/",
        Op::Mod => "%",
        Op::Pow => "^",
        _ => "comparison",
    };
    Ok(Some(match op {
        Op::Eq => Value::Bool(equal(a, b)),
        Op::Ne => Value::Bool(!equal(a, b)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match (a, b) {
                (Some(Value::Number(x)), Some(Value::Number(y))) => {
                    x.as_f64().partial_cmp(&y.as_f64())
                }
                (Some(Value::String(x)), Some(Value::String(y))) => Some(x.cmp(y)),
                _ => {
                    return fail(format!(
                        "cannot compare {} with {}",
                        a.as_ref().map_or("a missing value".into(), to_text),
                        b.as_ref().map_or("a missing value".into(), to_text)
                    ))
                }
            };
            let Some(ord) = ord else {
                return Ok(Some(Value::Bool(false)));
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
            (Some(x), Some(y)) => Value::String(to_text(x) + &to_text(y)),
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
            let ints = a.as_ref().is_some_and(is_int) && b.as_ref().is_some_and(is_int);
            match op {
                Op::Div if ints => number((x / y).floor()),
                Op::Div => number(x / y),
                _ if ints => number(x % y),
                _ => return fail("% and mod need whole numbers"),
            }
        }
        Op::And | Op::Or => unreachable!("handled with short-circuit"),
    }))
}

fn arity(name: &str, args: &[V], min: usize, max: usize) -> Result<(), ExprError> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return fail(format!(
            "{name} takes {want} argument(s), not {}",
            args.len()
        ));
    }
    Ok(())
}

fn call(name: &str, a: &[V]) -> Result<V, ExprError> {
    let one = |min, max| arity(name, a, min, max);
    Ok(match name {
        "concat" => {
            one(1, usize::MAX)?;
            if a.iter().all(|v| matches!(v, Some(Value::Array(_)))) {
                let mut out = Vec::new();
                for v in a.iter().flatten() {
                    out.extend(v.as_array().cloned().unwrap_or_default());
                }
                Some(Value::Array(out))
            } else {
                Some(Value::String(
                    a.iter()
                        .map(|v| v.as_ref().map_or(String::new(), to_text))
                        .collect(),
                ))
            }
        }
        "toUpper" | "toLower" | "trim" => {
            one(1, 1)?;
            let s = match &a[0] {
                None | Some(Value::Null) => String::new(),
                v => text(v, name)?.to_owned(),
            };
            Some(Value::String(match name {
                "toUpper" => s.to_uppercase(),
                "toLower" => s.to_lowercase(),
                _ => s.trim().to_owned(),
            }))
        }
        "length" | "count" => {
            one(1, 1)?;
            Some(Value::from(match &a[0] {
                Some(Value::String(s)) => s.encode_utf16().count(),
                Some(Value::Array(x)) => x.len(),
                _ => return fail(format!("{name} needs text or a list")),
            }))
        }
        "join" => {
            one(2, 3)?;
            let Some(Value::Array(items)) = &a[0] else {
                return fail("join needs a list");
            };
            let sep = text(&a[1], name)?;
            let parts: Vec<String> = items.iter().map(to_text).collect();
            Some(Value::String(match (&a.get(2), parts.len()) {
                (Some(last), n) if n > 1 => {
                    let last = text(last, name)?;
                    format!("{}{last}{}", parts[..n - 1].join(sep), parts[n - 1])
                }
                _ => parts.join(sep),
            }))
        }
        "string" => {
            one(1, 1)?;
            Some(Value::String(match &a[0] {
                Some(v @ (Value::Array(_) | Value::Object(_))) => v.to_string(),
                Some(v) => to_text(v),
                None => "undefined".into(),
            }))
        }
        "int" | "float" => {
            one(1, 1)?;
            let n = match &a[0] {
                Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                Some(Value::String(s)) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| ExprError(format!("{name}: `{s}` is not a number")))?,
                Some(Value::Bool(b)) => f64::from(u8::from(*b)),
                _ => return fail(format!("{name} needs a number or numeric text")),
            };
            Some(number(if name == "int" { n.trunc() } else { n }))
        }
        "bool" => {
            one(1, 1)?;
            Some(Value::Bool(match &a[0] {
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
            let mut acc = a[0].clone();
            for v in &a[1..] {
                acc = binary(op, &acc, v)?;
            }
            acc
        }
        "max" | "min" => {
            one(1, usize::MAX)?;
            let list: Vec<V> = match (&a[0], a.len()) {
                (Some(Value::Array(x)), 1) => x.iter().cloned().map(Some).collect(),
                _ => a.to_vec(),
            };
            let mut best: Option<f64> = None;
            for v in &list {
                let n = num(v, name)?;
                best = Some(match best {
                    None => n,
                    Some(b) if name == "max" => b.max(n),
                    Some(b) => b.min(n),
                });
            }
            best.map(number)
        }
        "abs" | "floor" | "ceiling" => {
            one(1, 1)?;
            let n = num(&a[0], name)?;
            Some(number(match name {
                "abs" => n.abs(),
                "floor" => n.floor(),
                _ => n.ceil(),
            }))
        }
        "round" => {
            one(1, 2)?;
            let n = num(&a[0], name)?;
            let digits = if a.len() == 2 { num(&a[1], name)? } else { 0.0 };
            let f = 10f64.powf(digits);
            Some(number((n * f).round() / f))
        }
        "equals" => {
            one(2, 2)?;
            Some(Value::Bool(equal(&a[0], &a[1])))
        }
        "not" => {
            one(1, 1)?;
            Some(Value::Bool(!truthy(&a[0])))
        }
        "and" => {
            one(1, usize::MAX)?;
            Some(Value::Bool(a.iter().all(truthy)))
        }
        "or" => {
            one(1, usize::MAX)?;
            Some(Value::Bool(a.iter().any(truthy)))
        }
        "empty" => {
            one(1, 1)?;
            Some(Value::Bool(match &a[0] {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Array(x)) => x.is_empty(),
                Some(Value::Object(o)) => o.is_empty(),
                _ => false,
            }))
        }
        "exists" => {
            one(1, 1)?;
            Some(Value::Bool(!matches!(&a[0], None | Some(Value::Null))))
        }
        "contains" => {
            one(2, 2)?;
            Some(Value::Bool(match (&a[0], &a[1]) {
                (Some(Value::String(s)), Some(Value::String(x))) => s.contains(x.as_str()),
                (Some(Value::Array(items)), x) => items.iter().any(|i| equal(&Some(i.clone()), x)),
                (Some(Value::Object(o)), Some(Value::String(k))) => o.contains_key(k),
                _ => false,
            }))
        }
        "startsWith" | "endsWith" => {
            one(2, 2)?;
            let s = match &a[0] {
                None | Some(Value::Null) => "",
                v => text(v, name)?,
            };
            let x = match &a[1] {
                None | Some(Value::Null) => "",
                v => text(v, name)?,
            };
            Some(Value::Bool(if name == "startsWith" {
                s.starts_with(x)
            } else {
                s.ends_with(x)
            }))
        }
        "substring" => {
            one(2, 3)?;
            let s: Vec<u16> = text(&a[0], name)?.encode_utf16().collect();
            let start = num(&a[1], name)?;
            let len = if a.len() == 3 {
                num(&a[2], name)?
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
            Some(Value::String(String::from_utf16_lossy(&s[st..st + ln])))
        }
        "replace" => {
            one(3, 3)?;
            let s = text(&a[0], name)?;
            let old = text(&a[1], name)?;
            if old.is_empty() {
                return fail("replace needs a non-empty text to replace");
            }
            let new = match &a[2] {
                None | Some(Value::Null) => "",
                v => text(v, name)?,
            };
            Some(Value::String(s.replace(old, new)))
        }
        "first" | "last" => {
            one(1, 1)?;
            match &a[0] {
                Some(Value::Array(x)) => {
                    if name == "first" {
                        x.first().cloned()
                    } else {
                        x.last().cloned()
                    }
                }
                Some(Value::String(s)) => {
                    let c = if name == "first" {
                        s.chars().next()
                    } else {
                        s.chars().last()
                    };
                    c.map(|c| Value::String(c.to_string()))
                }
                _ => None,
            }
        }
        "coalesce" => {
            one(1, usize::MAX)?;
            Some(
                a.iter()
                    .flatten()
                    .find(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        }
        "indexOf" => {
            one(2, 2)?;
            Some(Value::from(match (&a[0], &a[1]) {
                (Some(Value::String(s)), Some(Value::String(x))) => s
                    .find(x.as_str())
                    .map_or(-1, |i| s[..i].encode_utf16().count() as i64),
                (Some(Value::Array(items)), x) => items
                    .iter()
                    .position(|i| equal(&Some(i.clone()), x))
                    .map_or(-1, |i| i as i64),
                _ => return fail("indexOf needs text or a list"),
            }))
        }
        "split" => {
            one(1, 2)?;
            let s = text(&a[0], name)?;
            let sep = if a.len() == 2 { text(&a[1], name)? } else { "" };
            Some(Value::Array(if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::String(p.to_owned())).collect()
            }))
        }
        "formatNumber" => {
            one(2, 3)?;
            let n = num(&a[0], name)?;
            let digits = num(&a[1], name)?;
            if !(0.0..=20.0).contains(&digits) {
                return fail("formatNumber's precision must be 0 to 20");
            }
            // Rounded half up first (JavaScript's Math.round on n·10^p), then printed with
            // en-US grouping; negatives carry the Unicode minus, as d3-format prints them.
            let f = 10f64.powi(digits as i32);
            let rounded = (n * f + 0.5).floor() / f;
            let text = group_thousands(&format!("{:.*}", digits as usize, rounded.abs()));
            Some(Value::String(if rounded < 0.0 {
                format!("\u{2212}{text}")
            } else {
                text
            }))
        }
        "json" => {
            one(1, 1)?;
            let t = text(&a[0], name)?;
            Some(serde_json::from_str(t).map_err(|e| ExprError(format!("json: {e}")))?)
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

    fn run(src: &str, data: Value) -> V {
        let e = parse(src).unwrap();
        eval(
            &e,
            &Scope {
                root: &data,
                data: &data,
                index: None,
            },
        )
        .unwrap()
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
        assert!(parse("frobnicate(1)").unwrap_err().0.contains("frobnicate"));
        assert!(parse("1 +").is_err());
    }
}
