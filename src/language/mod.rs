//! Language detection, restricted to what veille handles: `sv`, `en` and `fr` are
//! reported; another language, or a guess too weak to trust, is `und` with the best
//! guess kept apart (`lang_guess`).
//!
//! Two detectors, each where it is strong: whatlang (fast; right on every full news
//! paragraph when restricted to a small allowlist) for text of 100+ characters, lingua
//! (about 15x the cost, far better on 5-word headlines, and it keeps Swedish apart from
//! Danish and Bokmål) for shorter text. In a document, the other paragraphs are strong
//! evidence for the language of its headings and captions: a document-level prior is
//! combined with the short line's own confidences (Bayes' rule), so "Foto: Reuters" in a
//! Swedish article is Swedish, while a genuinely English quote line still wins on its own
//! evidence.

pub mod report;

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use whatlang::{Detector, Lang as WLang, Script};

/// Recorded as `model` in `detect` records.
pub const DETECTOR_ID: &str = "whatlang-0.18+lingua-1.8";

/// Languages veille classifies.
pub const SUPPORTED: [&str; 3] = ["sv", "en", "fr"];

/// Length (characters) from which whatlang alone decides.
const LONG_TEXT: usize = 100;
/// Below this combined probability the guess is reported as `und`.
const MIN_CONFIDENCE: f64 = 0.5;
/// Weight of the document's language in the prior of a short line.
const DOC_PRIOR: f64 = 0.8;

#[derive(Debug, Clone, PartialEq)]
pub struct LangGuess {
    /// `sv`, `en`, `fr` or `und`.
    pub lang: &'static str,
    pub confidence: f64,
    /// The best guess (ISO 639-1 where known) when `lang` is `und`.
    pub guess: Option<String>,
}

impl LangGuess {
    fn und(guess: Option<String>, confidence: f64) -> Self {
        LangGuess {
            lang: "und",
            confidence,
            guess,
        }
    }
}

/// The candidate set: the three supported languages, their Scandinavian neighbours (so
/// that Danish and Norwegian are recognised as such, not forced into Swedish) and the
/// large Western European languages a news feed is most likely to mix in.
const LINGUA_LANGS: [Language; 11] = [
    Language::Swedish,
    Language::English,
    Language::French,
    Language::Danish,
    Language::Bokmal,
    Language::Nynorsk,
    Language::German,
    Language::Dutch,
    Language::Spanish,
    Language::Italian,
    Language::Portuguese,
];

const WHATLANG_LANGS: [WLang; 10] = [
    WLang::Swe,
    WLang::Eng,
    WLang::Fra,
    WLang::Dan,
    WLang::Nob,
    WLang::Deu,
    WLang::Nld,
    WLang::Spa,
    WLang::Ita,
    WLang::Por,
];

pub struct LanguageIdentifier {
    lingua: LanguageDetector,
    whatlang: Detector,
}

impl Default for LanguageIdentifier {
    fn default() -> Self {
        Self::new()
    }
}

fn supported_code(code: &str) -> Option<&'static str> {
    SUPPORTED.into_iter().find(|c| *c == code)
}

fn whatlang_code(lang: WLang) -> String {
    match lang {
        WLang::Swe => "sv",
        WLang::Eng => "en",
        WLang::Fra => "fr",
        WLang::Dan => "da",
        WLang::Nob => "nb",
        WLang::Deu => "de",
        WLang::Nld => "nl",
        WLang::Spa => "es",
        WLang::Ita => "it",
        WLang::Por => "pt",
        WLang::Rus => "ru",
        WLang::Ukr => "uk",
        WLang::Bel => "be",
        WLang::Bul => "bg",
        WLang::Srp => "sr",
        WLang::Mkd => "mk",
        WLang::Ara => "ar",
        WLang::Pes => "fa",
        WLang::Heb => "he",
        WLang::Ell => "el",
        WLang::Cmn => "zh",
        WLang::Jpn => "ja",
        WLang::Kor => "ko",
        WLang::Hin => "hi",
        WLang::Tha => "th",
        // Others keep whatlang's ISO 639-3 code.
        other => return other.code().to_string(),
    }
    .to_string()
}

fn lingua_code(lang: Language) -> String {
    lang.iso_code_639_1().to_string()
}

impl LanguageIdentifier {
    pub fn new() -> Self {
        let lingua = LanguageDetectorBuilder::from_languages(&LINGUA_LANGS).build();
        let whatlang = Detector::with_allowlist(WHATLANG_LANGS.to_vec());
        LanguageIdentifier { lingua, whatlang }
    }

    /// Text in a script other than Latin is not sv/en/fr whatever the allowlist says.
    fn foreign_script(&self, text: &str) -> Option<LangGuess> {
        let info = whatlang::detect(text)?;
        (info.script() != Script::Latin)
            .then(|| LangGuess::und(Some(whatlang_code(info.lang())), info.confidence()))
    }

    /// Probabilities over [`LINGUA_LANGS`] for one text (sums to 1 when any letter).
    fn short_text_probs(&self, text: &str) -> Vec<(Language, f64)> {
        self.lingua.compute_language_confidence_values(text)
    }

    /// Loads lingua's language models now (they load lazily, ~0.2 s, at the first short
    /// text): a stream's first headline should not pay for it.
    pub fn warm_up(&self) {
        let _ = self.short_text_probs("warm up");
    }

    /// Detects the language of one text on its own evidence.
    pub fn detect(&self, text: &str) -> LangGuess {
        self.detect_with_prior(text, None)
    }

    fn detect_with_prior(&self, text: &str, doc_lang: Option<&'static str>) -> LangGuess {
        if let Some(g) = self.foreign_script(text) {
            return g;
        }
        if text.chars().count() >= LONG_TEXT {
            // whatlang decides confident long texts; an unsure one goes to lingua too.
            if let Some(info) = self.whatlang.detect(text) {
                let code = whatlang_code(info.lang());
                let sure = info.confidence() >= MIN_CONFIDENCE;
                match supported_code(&code) {
                    Some(c) if sure || doc_lang == Some(c) => {
                        return LangGuess {
                            lang: c,
                            confidence: info.confidence(),
                            guess: None,
                        }
                    }
                    None if sure => return LangGuess::und(Some(code), info.confidence()),
                    _ => {}
                }
            }
        }
        let mut probs = self.short_text_probs(text);
        if probs.is_empty() {
            return LangGuess::und(None, 0.0);
        }
        if let Some(doc) = doc_lang {
            let others = (1.0 - DOC_PRIOR) / (LINGUA_LANGS.len() - 1) as f64;
            for (lang, p) in probs.iter_mut() {
                let code = lingua_code(*lang);
                *p *= if code == doc { DOC_PRIOR } else { others };
            }
            let total: f64 = probs.iter().map(|(_, p)| p).sum();
            if total > 0.0 {
                probs.iter_mut().for_each(|(_, p)| *p /= total);
            }
        }
        let (best, p) = probs
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("non-empty");
        let code = lingua_code(best);
        match supported_code(&code) {
            Some(c) if p >= MIN_CONFIDENCE => LangGuess {
                lang: c,
                confidence: p,
                guess: None,
            },
            _ => LangGuess::und(Some(code), p),
        }
    }

    /// Detects every paragraph of a document, using the document's dominant language
    /// (from its long paragraphs, else from all its text) as a prior for short lines.
    pub fn detect_document(&self, texts: &[&str]) -> Vec<LangGuess> {
        let own: Vec<LangGuess> = texts.iter().map(|t| self.detect(t)).collect();
        if texts.len() < 2 {
            return own;
        }
        let doc_lang = self.document_language(texts, &own);
        match doc_lang {
            None => own,
            Some(doc) => texts
                .iter()
                .zip(own)
                .map(|(t, g)| {
                    if t.chars().count() >= LONG_TEXT && g.lang != "und" {
                        g
                    } else {
                        self.detect_with_prior(t, Some(doc))
                    }
                })
                .collect(),
        }
    }

    /// The language holding most characters among confidently detected paragraphs.
    fn document_language(&self, texts: &[&str], own: &[LangGuess]) -> Option<&'static str> {
        let mut weight = [0usize; 3];
        for (t, g) in texts.iter().zip(own) {
            if let Some(i) = SUPPORTED.iter().position(|c| *c == g.lang) {
                if g.confidence >= 0.7 {
                    weight[i] += t.chars().count();
                }
            }
        }
        let total: usize = weight.iter().sum();
        let (i, w) = weight.iter().enumerate().max_by_key(|(_, w)| **w)?;
        // The document needs a clear majority language, with enough text to trust.
        (*w >= 100 && *w * 10 >= total * 6).then_some(SUPPORTED[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_three_languages_on_paragraphs() {
        let id = LanguageIdentifier::new();
        let sv = "Säkerhetspolisen har inlett en förundersökning om olovlig underrättelseverksamhet mot en svensk forskare vid ett universitet i Lund.";
        let en = "The security service has opened an investigation into suspected intelligence gathering targeting a researcher at a university in Leeds.";
        let fr = "La direction générale de la sécurité intérieure a ouvert une enquête sur une possible collecte de renseignements visant un chercheur lyonnais.";
        assert_eq!(id.detect(sv).lang, "sv");
        assert_eq!(id.detect(en).lang, "en");
        assert_eq!(id.detect(fr).lang, "fr");
    }

    #[test]
    fn norwegian_and_danish_are_not_swedish() {
        let id = LanguageIdentifier::new();
        let nb = "Politiets sikkerhetstjeneste mener at flere land forsøker å skaffe seg informasjon om norske bedrifter og forskningsmiljøer.";
        let da = "Politiets Efterretningstjeneste vurderer, at flere lande forsøger at skaffe sig oplysninger om danske virksomheder og forskere.";
        for t in [nb, da] {
            let g = id.detect(t);
            assert_eq!(g.lang, "und", "{t}: {g:?}");
            assert!(
                matches!(g.guess.as_deref(), Some("nb") | Some("da") | Some("nn")),
                "{g:?}"
            );
        }
    }

    #[test]
    fn other_scripts_and_empty_text_are_und() {
        let id = LanguageIdentifier::new();
        let ru = id.detect("Служба безопасности начала расследование в отношении исследователя.");
        assert_eq!(ru.lang, "und");
        assert_eq!(ru.guess.as_deref(), Some("ru"));
        assert_eq!(id.detect("12345 !!!").lang, "und");
    }

    #[test]
    fn document_context_decides_ambiguous_short_lines() {
        let id = LanguageIdentifier::new();
        let body = "Regeringen vill skärpa kontrollen av utländska investeringar i hamnar och flygplatser, sade näringsministern på tisdagen.";
        let texts = ["Foto: Reuters", body, body];
        let g = id.detect_document(&texts);
        assert_eq!(g[0].lang, "sv", "{:?}", g[0]);
    }
}
