//! Categories of notifications and the opt-out commands people write to the bot.
//!
//! A notification may name a category (`options.category`: `payroll`, `it-outage`, …). A person
//! who writes `stop payroll` to the bot gets no later payroll notification; `stop all` stops
//! every category; `start …` undoes it. A notification without a category is not covered by any
//! opt-out: it is how an organisation sends what everyone must get.

use std::fmt;

/// The longest category name, in bytes.
pub const MAX_CATEGORY_LEN: usize = 64;

/// The word that means every category in `stop all` / `start all`; no category may be called so.
pub const ALL: &str = "all";

/// A category name: 1 to 64 of `A-Z a-z 0-9 _ -`, compared case-insensitively (kept lowercase).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category(String);

/// Why a string is not a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryError {
    Empty,
    TooLong(usize),
    /// The first character that is not a letter, a digit, `_` or `-`.
    BadCharacter(char),
    /// `all` means every category.
    Reserved,
}

impl fmt::Display for CategoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CategoryError::Empty => write!(f, "a category cannot be empty"),
            CategoryError::TooLong(n) => write!(
                f,
                "a category of {n} bytes; categories are at most {MAX_CATEGORY_LEN}"
            ),
            CategoryError::BadCharacter(c) => write!(
                f,
                "a category holds only letters, digits, `_` and `-`, not {c:?}"
            ),
            CategoryError::Reserved => write!(
                f,
                "`all` is not a category name: `stop all` opts out of every category"
            ),
        }
    }
}

impl std::error::Error for CategoryError {}

impl Category {
    pub fn parse(s: &str) -> Result<Self, CategoryError> {
        if s.is_empty() {
            return Err(CategoryError::Empty);
        }
        if s.len() > MAX_CATEGORY_LEN {
            return Err(CategoryError::TooLong(s.len()));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(CategoryError::BadCharacter(c));
        }
        let s = s.to_ascii_lowercase();
        if s == ALL {
            return Err(CategoryError::Reserved);
        }
        Ok(Category(s))
    }

    /// A name read back from the store, where only parsed names (and `all`) are written.
    pub fn trusted(s: String) -> Self {
        Category(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an opt-out names: one category, or all of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OptOut {
    All,
    One(Category),
}

impl OptOut {
    /// The spelling kept in the store and shown in preferences: the category, or `all`.
    pub fn as_str(&self) -> &str {
        match self {
            OptOut::All => ALL,
            OptOut::One(c) => c.as_str(),
        }
    }

    /// `all` or a category name (any case).
    pub fn parse(s: &str) -> Result<Self, CategoryError> {
        if s.eq_ignore_ascii_case(ALL) {
            Ok(OptOut::All)
        } else {
            Category::parse(s).map(OptOut::One)
        }
    }

    /// Does this opt-out keep a notification of `category` (none: not covered) from the person?
    pub fn covers(&self, category: Option<&Category>) -> bool {
        match (self, category) {
            (_, None) => false,
            (OptOut::All, Some(_)) => true,
            (OptOut::One(mine), Some(c)) => mine == c,
        }
    }
}

/// A message to the bot that changes what the person receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `stop CATEGORY` or `stop all`.
    Stop(OptOut),
    /// `start CATEGORY` or `start all`.
    Start(OptOut),
    /// `stop` or `start` with a word that is no category: the bot says what it expected.
    Unclear(String),
}

/// The longest message read as a command; longer ones are ordinary messages (a command is two
/// words, the second at most 64 bytes).
const MAX_COMMAND_LEN: usize = 6 + MAX_CATEGORY_LEN + 16;

impl Command {
    /// Reads `stop X` / `start X` (any case, surrounding space and a trailing `.` or `!`
    /// ignored). `None`: the message is not a command (the bot's usual answer applies), which is
    /// also what a bare `stop` or `start` is: the usual answer says how to use them.
    pub fn parse(text: &str) -> Option<Command> {
        let text = text.trim();
        if text.len() > MAX_COMMAND_LEN {
            return None;
        }
        let text = text.trim_end_matches(['.', '!']).trim_end();
        let mut words = text.split_whitespace();
        let verb = words.next()?;
        let what = words.next()?;
        if words.next().is_some() {
            return None;
        }
        let make: fn(OptOut) -> Command = if verb.eq_ignore_ascii_case("stop") {
            Command::Stop
        } else if verb.eq_ignore_ascii_case("start") {
            Command::Start
        } else {
            return None;
        };
        Some(match OptOut::parse(what) {
            Ok(o) => make(o),
            Err(e) => Command::Unclear(format!("`{what}` is not a category: {e}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_short_words_compared_without_case() {
        assert_eq!(Category::parse("Payroll").unwrap().as_str(), "payroll");
        assert_eq!(
            Category::parse("it-outage_2").unwrap().as_str(),
            "it-outage_2"
        );
        assert_eq!(Category::parse(""), Err(CategoryError::Empty));
        assert_eq!(
            Category::parse(&"a".repeat(65)),
            Err(CategoryError::TooLong(65))
        );
        assert!(Category::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            Category::parse("pay roll"),
            Err(CategoryError::BadCharacter(' '))
        );
        assert_eq!(
            Category::parse("café"),
            Err(CategoryError::BadCharacter('é'))
        );
        assert_eq!(Category::parse("ALL"), Err(CategoryError::Reserved));
    }

    #[test]
    fn an_opt_out_covers_its_category_or_every_one_but_never_an_uncategorised_notification() {
        let payroll = Category::parse("payroll").unwrap();
        let news = Category::parse("news").unwrap();
        let stop_payroll = OptOut::parse("PAYROLL").unwrap();
        assert!(stop_payroll.covers(Some(&payroll)));
        assert!(!stop_payroll.covers(Some(&news)));
        assert!(!stop_payroll.covers(None));
        assert!(OptOut::All.covers(Some(&news)));
        assert!(!OptOut::All.covers(None));
    }

    #[test]
    fn commands_are_stop_or_start_and_one_word() {
        let payroll = || OptOut::One(Category::parse("payroll").unwrap());
        assert_eq!(
            Command::parse("stop payroll"),
            Some(Command::Stop(payroll()))
        );
        assert_eq!(
            Command::parse("  Stop   Payroll.  "),
            Some(Command::Stop(payroll()))
        );
        assert_eq!(
            Command::parse("START payroll!"),
            Some(Command::Start(payroll()))
        );
        assert_eq!(Command::parse("stop all"), Some(Command::Stop(OptOut::All)));
        assert_eq!(
            Command::parse("start ALL"),
            Some(Command::Start(OptOut::All))
        );
        assert!(matches!(
            Command::parse("stop pay$roll"),
            Some(Command::Unclear(why)) if why.contains("pay$roll")
        ));
        for not_a_command in [
            "",
            "stop",
            "start",
            "please stop payroll",
            "stop payroll now",
            "stopped payroll",
            "what is this?",
        ] {
            assert_eq!(Command::parse(not_a_command), None, "{not_a_command:?}");
        }
        assert_eq!(
            Command::parse(&format!("stop {}", "a".repeat(10_000))),
            None
        );
    }
}
