//! Language detection, restricted to what veille handles: `sv`, `en` and `fr` are
//! reported; another language, or evidence too weak to trust, is `und` with the best
//! guess kept apart (`lang_guess`).
//!
//! Two detectors, each where it is strong: whatlang (fast, right on nearly every full
//! news paragraph when restricted to a small allowlist) decides paragraphs of 100+
//! characters that it puts in a supported language; lingua (about 15x the cost, far
//! better on 5-word headlines, and it keeps Swedish apart from Danish and Bokmål) decides
//! shorter text and every long paragraph whatlang would put elsewhere (whatlang takes
//! some plain Swedish paragraphs for Bokmål with near certainty).
//!
//! The decision rule for lingua's answer is a margin, not an absolute confidence. Over
//! many candidates a correct 5-word Swedish lede may get only 0.3 of the probability, the
//! rest spread over Danish, Bokmål and Nynorsk; what matters is whether it beats the
//! languages it could be mistaken for. A supported language is reported when it is the
//! most probable candidate and at least [`NEIGHBOUR_ODDS`] times as probable as the most
//! probable unsupported one. The candidates are the supported languages' near neighbours
//! (Danish, Bokmål, Nynorsk, German, Dutch, Spanish, Italian, Portuguese) and the other
//! Latin-script languages a European feed mixes in whose letters overlap theirs (Finnish
//! and Estonian share ä and ö with Swedish, ...): a language missing from the candidates
//! cannot lose to its rival and would be pushed into the nearest supported one.
//!
//! In a document, the other paragraphs are strong evidence for the language of its
//! headings and captions: a document-level prior is combined with the short line's own
//! probabilities (Bayes' rule), so "Foto: Reuters" in a Swedish article is Swedish, while
//! a genuinely English quote line still wins on its own evidence. Each text is scored
//! once; the prior only re-weighs the stored probabilities.

pub mod memory;
pub mod report;

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use serde::{Deserialize, Serialize};
use whatlang::{Detector, Lang as WLang, Script};

/// Recorded as `model` in `detect` records.
pub const DETECTOR_ID: &str = "whatlang-0.18+lingua-1.8";

/// Languages veille classifies.
pub const SUPPORTED: [&str; 3] = ["sv", "en", "fr"];

/// Length (characters) from which whatlang may decide alone.
const LONG_TEXT: usize = 100;
/// whatlang's confidence from which a long text's supported language is taken as is.
const WHATLANG_SURE: f64 = 0.5;
/// How many times more probable than the most probable unsupported candidate a supported
/// language must be. Chosen on `corpora/langid`: every value from 1.0 kept the Danish,
/// Norwegian and other distractors out; higher values only turn right short lines into
/// `und` (1.2: 98-99% right, 1.5: 96-98%, 2.0: 94-98%).
pub const NEIGHBOUR_ODDS: f64 = 1.2;
/// Weight of the document's language in the prior of a short line.
const DOC_PRIOR: f64 = 0.8;
/// A paragraph counts towards its document's language from this confidence.
const DOC_EVIDENCE: f64 = 0.7;

/// How a record's language was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LangSource {
    /// The paragraph's own evidence.
    #[default]
    Detected,
    /// The paragraph's own evidence was not enough; its document's language decided.
    Document,
    /// `--lang`: the feed is declared monolingual, nothing was detected.
    Forced,
}

impl LangSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LangSource::Detected => "detected",
            LangSource::Document => "document",
            LangSource::Forced => "forced",
        }
    }
}

/// A language that `--lang` can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForcedLang {
    Sv,
    En,
    Fr,
}

impl ForcedLang {
    pub fn code(self) -> &'static str {
        match self {
            ForcedLang::Sv => "sv",
            ForcedLang::En => "en",
            ForcedLang::Fr => "fr",
        }
    }

    /// The guess every paragraph of a forced feed gets.
    pub fn guess(self) -> LangGuess {
        LangGuess {
            lang: self.code(),
            confidence: 1.0,
            guess: None,
            source: LangSource::Forced,
        }
    }
}

/// What the language stage is told beyond the text: plain options, set by the commands.
#[derive(Debug, Clone, Default)]
pub struct LanguageOptions {
    /// Every paragraph is in this language; nothing is detected.
    pub forced: Option<ForcedLang>,
    /// Remember the language of this many recent documents across calls (0: none), so a
    /// document's later short lines get its language as a prior (the stream command).
    pub doc_memory: usize,
    /// A document name that is not a document (stdin's lines without a `doc` field).
    pub anonymous_doc: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LangGuess {
    /// `sv`, `en`, `fr` or `und`.
    pub lang: &'static str,
    pub confidence: f64,
    /// The best guess (ISO 639-1 where known) when `lang` is `und`.
    pub guess: Option<String>,
    pub source: LangSource,
}

impl LangGuess {
    fn und(guess: Option<String>, confidence: f64) -> Self {
        LangGuess {
            lang: "und",
            confidence,
            guess,
            source: LangSource::Detected,
        }
    }

    fn supported(lang: &'static str, confidence: f64) -> Self {
        LangGuess {
            lang,
            confidence,
            guess: None,
            source: LangSource::Detected,
        }
    }
}

/// The candidate set: the three supported languages, their near neighbours (so that
/// Danish and Norwegian are recognised as such, not forced into Swedish), and other
/// Latin-script European languages that would otherwise fall into a supported one
/// (Finnish and Estonian headlines came out Swedish, Polish and Romanian ones Swedish or
/// English, before they were candidates).
const LINGUA_LANGS: [Language; 19] = [
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
    Language::Finnish,
    Language::Estonian,
    Language::Icelandic,
    Language::Polish,
    Language::Romanian,
    Language::Catalan,
    Language::Turkish,
    Language::Hungarian,
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

/// Everything known about one text before any document context: computed once, decided
/// on (with or without a prior) as often as needed.
#[derive(Debug, Clone)]
enum Evidence {
    /// Settled on the text alone: another script, or a long paragraph whatlang is sure of.
    Settled(LangGuess),
    /// A long paragraph whatlang puts, unsure, in a supported language; lingua's view too.
    LongUnsure {
        lang: &'static str,
        confidence: f64,
        probs: Vec<(Language, f64)>,
    },
    /// lingua's probabilities over the candidates (empty: no letters).
    Scored(Vec<(Language, f64)>),
}

/// One text's [`Evidence`], opaque outside this module (see
/// [`LanguageIdentifier::evidence_of`]).
#[derive(Debug, Clone)]
pub struct TextEvidence(Evidence);

/// The margin rule over candidate probabilities, after an optional document prior.
fn decide(probs: &[(Language, f64)], prior: Option<&'static str>) -> LangGuess {
    if probs.is_empty() {
        return LangGuess::und(None, 0.0);
    }
    let mut probs = probs.to_vec();
    if let Some(doc) = prior {
        let others = (1.0 - DOC_PRIOR) / (LINGUA_LANGS.len() - 1) as f64;
        for (lang, p) in probs.iter_mut() {
            *p *= if lingua_code(*lang) == doc {
                DOC_PRIOR
            } else {
                others
            };
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
    let neighbour = probs
        .iter()
        .filter(|(l, _)| supported_code(&lingua_code(*l)).is_none())
        .map(|(_, p)| *p)
        .fold(0.0, f64::max);
    let code = lingua_code(best);
    match supported_code(&code) {
        Some(c) if p > 0.0 && p >= NEIGHBOUR_ODDS * neighbour => LangGuess::supported(c, p),
        _ => LangGuess::und(Some(code), p),
    }
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

    fn evidence(&self, text: &str) -> Evidence {
        if let Some(g) = self.foreign_script(text) {
            return Evidence::Settled(g);
        }
        if text.chars().count() >= LONG_TEXT {
            if let Some(info) = self.whatlang.detect(text) {
                if let Some(c) = supported_code(&whatlang_code(info.lang())) {
                    if info.confidence() >= WHATLANG_SURE {
                        return Evidence::Settled(LangGuess::supported(c, info.confidence()));
                    }
                    return Evidence::LongUnsure {
                        lang: c,
                        confidence: info.confidence(),
                        probs: self.short_text_probs(text),
                    };
                }
            }
        }
        Evidence::Scored(self.short_text_probs(text))
    }

    fn decide(evidence: &Evidence, prior: Option<&'static str>) -> LangGuess {
        match evidence {
            Evidence::Settled(g) => g.clone(),
            Evidence::LongUnsure {
                lang,
                confidence,
                probs,
            } => {
                if prior == Some(*lang) {
                    LangGuess::supported(lang, *confidence)
                } else {
                    decide(probs, prior)
                }
            }
            Evidence::Scored(probs) => decide(probs, prior),
        }
    }

    /// Detects the language of one text on its own evidence.
    pub fn detect(&self, text: &str) -> LangGuess {
        Self::decide(&self.evidence(text), None)
    }

    /// Detects every paragraph of a document, using the document's dominant language
    /// (from its long paragraphs, else from all its text) as a prior for short lines.
    pub fn detect_document(&self, texts: &[&str]) -> Vec<LangGuess> {
        self.detect_document_with(texts, DocumentWeights::default())
            .0
    }

    /// [`Self::detect_document`] with what is already known of the document (earlier
    /// paragraphs seen in another call); also returns this call's own evidence, to add
    /// to what is known.
    pub fn detect_document_with(
        &self,
        texts: &[&str],
        known: DocumentWeights,
    ) -> (Vec<LangGuess>, DocumentWeights) {
        self.detect_document_from(texts, &self.evidence_of(texts), known)
    }

    /// What each text shows on its own, the costly part of detection (lingua's n-gram
    /// scores), computed on two threads for 16 texts or more. The texts may come from
    /// several documents: [`LanguageIdentifier::detect_document_from`] then decides each
    /// document from its own slice.
    pub fn evidence_of(&self, texts: &[&str]) -> Vec<TextEvidence> {
        let one = |t: &&str| TextEvidence(self.evidence(t));
        if texts.len() < 16 {
            return texts.iter().map(one).collect();
        }
        // Split where half the characters are: the cost follows the text length.
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let mut half = 0;
        let mut seen = 0;
        while half < texts.len() && seen * 2 < total {
            seen += texts[half].len();
            half += 1;
        }
        let (first, second) = texts.split_at(half);
        std::thread::scope(|scope| {
            let later = scope.spawn(|| second.iter().map(one).collect::<Vec<_>>());
            let mut out: Vec<TextEvidence> = first.iter().map(one).collect();
            out.extend(
                later
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
            out
        })
    }

    /// [`LanguageIdentifier::detect_document_with`] from evidence already computed (one
    /// per text, by [`LanguageIdentifier::evidence_of`]).
    pub fn detect_document_from(
        &self,
        texts: &[&str],
        evidence: &[TextEvidence],
        known: DocumentWeights,
    ) -> (Vec<LangGuess>, DocumentWeights) {
        assert_eq!(texts.len(), evidence.len(), "one evidence per text");
        let evidence: Vec<&Evidence> = evidence.iter().map(|e| &e.0).collect();
        let own: Vec<LangGuess> = evidence.iter().map(|e| Self::decide(e, None)).collect();
        let weights = DocumentWeights::of(texts, &own);
        let all = known.plus(weights);
        // A single paragraph is not its own context: only earlier ones may decide.
        let doc_lang = if texts.len() < 2 && known.is_empty() {
            None
        } else {
            all.language()
        };
        let Some(doc) = doc_lang else {
            return (own, weights);
        };
        let guesses = texts
            .iter()
            .zip(evidence.iter().zip(own))
            .map(|(t, (e, g))| {
                if t.chars().count() >= LONG_TEXT && g.lang != "und" {
                    return g;
                }
                let mut with_prior = Self::decide(e, Some(doc));
                if with_prior.lang != g.lang {
                    with_prior.source = LangSource::Document;
                }
                with_prior
            })
            .collect();
        (guesses, weights)
    }
}

/// Characters of confidently detected text per supported language in a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentWeights([usize; 3]);

impl DocumentWeights {
    fn of(texts: &[&str], own: &[LangGuess]) -> Self {
        let mut w = [0usize; 3];
        for (t, g) in texts.iter().zip(own) {
            if let Some(i) = SUPPORTED.iter().position(|c| *c == g.lang) {
                if g.confidence >= DOC_EVIDENCE {
                    w[i] += t.chars().count();
                }
            }
        }
        DocumentWeights(w)
    }

    /// Characters per supported language, in [`SUPPORTED`] order.
    pub fn from_counts(counts: [usize; 3]) -> Self {
        DocumentWeights(counts)
    }

    pub fn plus(self, other: Self) -> Self {
        let mut w = self.0;
        for (a, b) in w.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
        }
        DocumentWeights(w)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The language holding most characters, when it is a clear majority (60%) of enough
    /// text (100 characters) to trust.
    pub fn language(&self) -> Option<&'static str> {
        // In u128: a long-lived stream's counts may be near usize::MAX.
        let total: u128 = self.0.iter().map(|w| *w as u128).sum();
        let (i, w) = self.0.iter().enumerate().max_by_key(|(_, w)| **w)?;
        (*w >= 100 && *w as u128 * 10 >= total * 6).then_some(SUPPORTED[i])
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

    const SV_BODY: &str = "Regeringen vill skärpa kontrollen av utländska investeringar i hamnar och flygplatser, sade näringsministern på tisdagen.";

    #[test]
    fn document_context_decides_ambiguous_short_lines() {
        let id = LanguageIdentifier::new();
        let texts = ["Foto: Reuters", SV_BODY, SV_BODY];
        let g = id.detect_document(&texts);
        assert_eq!(g[0].lang, "sv", "{:?}", g[0]);
        assert_eq!(g[1].source, LangSource::Detected);
    }

    #[test]
    fn short_ledes_with_a_weak_but_clear_lead_are_reported() {
        // Five-word lines whose best language holds well under half of the probability.
        let id = LanguageIdentifier::new();
        for (text, want) in [
            ("Bolaget har inte velat kommentera", "sv"),
            ("Ingen har ännu gripits för dådet", "sv"),
            ("The firm refused to answer questions", "en"),
            ("Le groupe refuse de répondre aux questions", "fr"),
        ] {
            let g = id.detect(text);
            assert_eq!(g.lang, want, "{text}: {g:?}");
            assert_eq!(g.source, LangSource::Detected);
        }
    }

    #[test]
    fn neighbours_and_languages_sharing_swedish_letters_are_und() {
        let id = LanguageIdentifier::new();
        for (text, guess) in [
            ("Selskabet ønsker ikke at kommentere sagen", "da"),
            ("Selskapet ønsker ikke å kommentere saken", "nb"),
            ("Yhtiö kiistää yhteydet valtioon", "fi"),
            ("Das Unternehmen wollte sich nicht äußern", "de"),
        ] {
            let g = id.detect(text);
            assert_eq!(g.lang, "und", "{text}: {g:?}");
            assert_eq!(g.guess.as_deref(), Some(guess), "{text}: {g:?}");
        }
    }

    #[test]
    fn earlier_paragraphs_decide_a_later_lone_line() {
        let id = LanguageIdentifier::new();
        let line = ["Foto: Privat"];
        let alone = id.detect_document_with(&line, DocumentWeights::default()).0;
        assert_ne!(
            alone[0].lang, "sv",
            "the test needs a line unsure on its own"
        );
        let (_, known) = id.detect_document_with(&[SV_BODY], DocumentWeights::default());
        assert_eq!(known.language(), Some("sv"));
        let (g, _) = id.detect_document_with(&line, known);
        assert_eq!(g[0].lang, "sv", "{g:?}");
        assert_eq!(g[0].source, LangSource::Document);
        // A line with its own clear evidence keeps it.
        let (g, _) = id.detect_document_with(&["The firm refused to answer questions"], known);
        assert_eq!(g[0].lang, "en", "{g:?}");
    }

    #[test]
    fn document_weights_need_a_clear_majority_of_enough_text() {
        assert_eq!(DocumentWeights::from_counts([99, 0, 0]).language(), None);
        assert_eq!(
            DocumentWeights::from_counts([120, 0, 0]).language(),
            Some("sv")
        );
        assert_eq!(DocumentWeights::from_counts([120, 100, 0]).language(), None);
        assert_eq!(
            DocumentWeights::from_counts([0, 70, 300]).language(),
            Some("fr")
        );
        let max = DocumentWeights::from_counts([usize::MAX, 1, 0]);
        assert_eq!(max.plus(max).language(), Some("sv"), "no overflow");
    }

    #[test]
    fn forced_guesses_and_sources_serialise_as_documented() {
        let g = ForcedLang::Fr.guess();
        assert_eq!(
            (g.lang, g.confidence, g.source),
            ("fr", 1.0, LangSource::Forced)
        );
        for (s, text) in [
            (LangSource::Detected, "\"detected\""),
            (LangSource::Document, "\"document\""),
            (LangSource::Forced, "\"forced\""),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), text);
            assert_eq!(format!("\"{}\"", s.as_str()), text);
        }
    }
}
