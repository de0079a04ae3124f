//! Adaptive Cards as Herald handles them: [`validate`] checks a card (or a template) against
//! the schema Teams renders, [`template`] expands a template with one recipient's data.
//!
//! Both are pure functions over `serde_json::Value`: no I/O, no clock.

pub mod expr;
pub mod template;
pub mod validate;

pub use template::{expand, TemplateError};
pub use validate::{validate, CardError, Mode, Rule, MAX_CARD_BYTES};
