//! The four labels of the taxonomy (`corpora/GUIDELINES.md`), the contract for every label
//! veille emits. Order here is the order of score columns and of `labels` lists.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    Espionage,
    InfluenceOperation,
    CorporateDenial,
    Regulation,
}

impl Label {
    pub const ALL: [Label; 4] = [
        Label::Espionage,
        Label::InfluenceOperation,
        Label::CorporateDenial,
        Label::Regulation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Espionage => "espionage",
            Label::InfluenceOperation => "influence-operation",
            Label::CorporateDenial => "corporate-denial",
            Label::Regulation => "regulation",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown label {0:?} (expected one of espionage, influence-operation, corporate-denial, regulation)")]
pub struct UnknownLabel(pub String);

impl FromStr for Label {
    type Err = UnknownLabel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::ALL
            .into_iter()
            .find(|l| l.as_str() == s.trim())
            .ok_or_else(|| UnknownLabel(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names() {
        for l in Label::ALL {
            assert_eq!(l.as_str().parse::<Label>().unwrap(), l);
            assert_eq!(
                serde_json::to_string(&l).unwrap(),
                format!("\"{}\"", l.as_str())
            );
        }
        assert!("spying".parse::<Label>().is_err());
    }
}
