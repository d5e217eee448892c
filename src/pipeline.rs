//! The pipeline proper: documents in, one record per paragraph out, in input order.
//!
//! documents -> language (per document, with context) -> representation (embed the text,
//! or translate sv/fr to English first) -> heads -> records. The batch command and the
//! stream command both drive [`Pipeline::process`]; neither knows about models.
//!
//! Failures are per paragraph: a paragraph that cannot be detected, translated or
//! embedded becomes an error record and the rest of the batch goes on.

use crate::classify::Heads;
use crate::ingest::{Document, Input};
use crate::language::memory::DocLanguageMemory;
use crate::language::{
    DocumentWeights, ForcedLang, LanguageIdentifier, LanguageOptions, TextEvidence, DETECTOR_ID,
};
use crate::record::Record;
use crate::represent::Encoder;
use crate::translate::{TranslateError, Translator};
use std::collections::HashSet;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Embed the paragraph in its own language with the multilingual encoder.
    Embed,
    /// Translate sv and fr to English first (en passes through), then classify English.
    Translate,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Embed => "embed",
            Strategy::Translate => "translate",
        }
    }
}

/// A record for an input that failed before any model saw it (or a blank one to fill).
pub fn base_record(input: &Input, strategy: &str, model: &str) -> Record {
    Record {
        id: input.id.clone(),
        doc: input.doc.clone(),
        para: input.para,
        text: input.text.clone(),
        lang: "und".into(),
        lang_confidence: 0.0,
        lang_guess: None,
        lang_source: None,
        labels: Vec::new(),
        scores: Default::default(),
        strategy: strategy.into(),
        model: model.into(),
        translation: None,
        meta: input.meta.clone(),
        evidence: None,
        error: input.error.clone(),
    }
}

/// Language records for one document: every input yields exactly one record.
pub fn detect_document(
    langid: &LanguageIdentifier,
    doc: &Document,
    strategy: &str,
    model: &str,
) -> Vec<Record> {
    detect_document_with(
        langid,
        doc,
        strategy,
        model,
        None,
        DocumentWeights::default(),
    )
    .0
}

/// [`detect_document`] with a forced language (`--lang`: nothing is detected) or what is
/// known of the document from earlier calls; also returns this document's own evidence.
pub fn detect_document_with(
    langid: &LanguageIdentifier,
    doc: &Document,
    strategy: &str,
    model: &str,
    forced: Option<ForcedLang>,
    known: DocumentWeights,
) -> (Vec<Record>, DocumentWeights) {
    detect_document_from(langid, doc, strategy, model, forced, known, None)
}

/// The texts of a document that go to language detection (inputs without an error).
fn detectable(doc: &Document) -> impl Iterator<Item = &str> {
    doc.inputs
        .iter()
        .filter(|i| i.error.is_none())
        .map(|i| i.text.as_str())
}

/// [`detect_document_with`], optionally from evidence already computed for the
/// document's detectable texts (see [`LanguageIdentifier::evidence_of`]).
fn detect_document_from(
    langid: &LanguageIdentifier,
    doc: &Document,
    strategy: &str,
    model: &str,
    forced: Option<ForcedLang>,
    known: DocumentWeights,
    evidence: Option<&[TextEvidence]>,
) -> (Vec<Record>, DocumentWeights) {
    let ok: Vec<&str> = detectable(doc).collect();
    let (guesses, weights) = match (forced, evidence) {
        (Some(lang), _) => (vec![lang.guess(); ok.len()], DocumentWeights::default()),
        (None, Some(ev)) => langid.detect_document_from(&ok, ev, known),
        (None, None) => langid.detect_document_with(&ok, known),
    };
    let mut guesses = guesses.into_iter();
    let records = doc
        .inputs
        .iter()
        .map(|input| {
            let mut r = base_record(input, strategy, model);
            if input.error.is_none() {
                let g = guesses.next().expect("one guess per valid input");
                r.lang = g.lang.to_string();
                // Rounded to 12 decimals: lingua sums over hash maps whose order changes from
                // process to process, and so do the last bits of its confidences; records must
                // be the same on every run (`--resume` appends to a file another process began).
                r.lang_confidence = (g.confidence * 1e12).round() / 1e12;
                r.lang_guess = g.guess;
                r.lang_source = Some(g.source);
            }
            r
        })
        .collect();
    (records, weights)
}

/// Pipeline settings beyond the models.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipelineOptions {
    /// Find each carried label's evidence sentence (costs a pass over the sentences of
    /// labelled multi-sentence paragraphs).
    pub evidence: bool,
}

pub struct Pipeline {
    options: PipelineOptions,
    langid: LanguageIdentifier,
    language: LanguageOptions,
    doc_memory: Option<DocLanguageMemory>,
    strategy: Strategy,
    encoder: Box<dyn Encoder>,
    heads: Heads,
    translator: Option<Box<dyn Translator>>,
    warned: HashSet<String>,
}

impl Pipeline {
    pub fn new(
        strategy: Strategy,
        encoder: Box<dyn Encoder>,
        heads: Heads,
        translator: Option<Box<dyn Translator>>,
        langid: LanguageIdentifier,
    ) -> anyhow::Result<Self> {
        if encoder.id() != heads.encoder {
            anyhow::bail!(
                "the classifier heads were trained on encoder {:?} but {:?} is loaded",
                heads.encoder,
                encoder.id()
            );
        }
        if encoder.dim() != heads.dim() {
            anyhow::bail!(
                "encoder dimension {} does not match the heads' {}",
                encoder.dim(),
                heads.dim()
            );
        }
        Ok(Pipeline {
            options: PipelineOptions::default(),
            langid,
            language: LanguageOptions::default(),
            doc_memory: None,
            strategy,
            encoder,
            heads,
            translator,
            warned: HashSet::new(),
        })
    }

    /// What produced the labels: encoder, heads (and translation models, per record).
    pub fn model_id(&self) -> String {
        let runtime = self
            .encoder
            .runtime()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        format!(
            "{}{runtime} heads:{} lang:{}",
            self.encoder.id(),
            self.heads.short_id(),
            DETECTOR_ID
        )
    }

    /// Forced language and per-document memory (see [`LanguageOptions`]).
    pub fn set_language_options(&mut self, options: LanguageOptions) {
        self.doc_memory =
            (options.doc_memory > 0).then(|| DocLanguageMemory::new(options.doc_memory));
        self.language = options;
    }

    /// Language records for every document. The costly part (each text's own evidence)
    /// runs over the whole group at once, on two threads; documents are then decided in
    /// order, each with what the memory knows of it.
    fn detect_all(&mut self, docs: &[Document], strategy: &str, model: &str) -> Vec<Record> {
        let evidence = match self.language.forced {
            Some(_) => Vec::new(),
            None => {
                let texts: Vec<&str> = docs.iter().flat_map(detectable).collect();
                self.langid.evidence_of(&texts)
            }
        };
        let mut at = 0;
        let mut records = Vec::new();
        for d in docs {
            let n = detectable(d).count();
            let ev = evidence.get(at..at + n);
            at += n;
            records.extend(self.detect(d, strategy, model, ev));
        }
        records
    }

    /// One document's language records, with what the memory knows of it.
    fn detect(
        &mut self,
        doc: &Document,
        strategy: &str,
        model: &str,
        evidence: Option<&[TextEvidence]>,
    ) -> Vec<Record> {
        let named = self.language.anonymous_doc.as_deref() != Some(doc.name.as_str());
        let memory = self.doc_memory.as_mut().filter(|_| named);
        let known = memory
            .as_ref()
            .map(|m| m.get(&doc.name))
            .unwrap_or_default();
        let (records, weights) = detect_document_from(
            &self.langid,
            doc,
            strategy,
            model,
            self.language.forced,
            known,
            evidence,
        );
        if let Some(m) = memory {
            m.add(&doc.name, weights);
        }
        records
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub fn set_options(&mut self, options: PipelineOptions) {
        self.options = options;
    }

    /// Processes documents into records, one per input, in input order.
    pub fn process(&mut self, docs: &[Document]) -> Vec<Record> {
        let model = self.model_id();
        let strategy = self.strategy.as_str();
        let mut records = self.detect_all(docs, strategy, &model);
        for r in records
            .iter_mut()
            .filter(|r| r.error.is_none() && r.lang == "und")
        {
            r.error = Some(match &r.lang_guess {
                Some(g) => format!(
                    "unsupported or uncertain language (best guess {g}, confidence {:.2}); veille classifies sv, en and fr",
                    r.lang_confidence
                ),
                None => "no language could be detected (no letters?)".to_string(),
            });
        }
        if self.strategy == Strategy::Translate {
            self.translate(&mut records);
        }
        self.classify(&mut records);
        if self.options.evidence {
            self.evidence(&mut records);
        }
        records
    }

    /// Fills `translation` for sv/fr records; en passes through.
    fn translate(&mut self, records: &mut [Record]) {
        for lang in ["sv", "fr"] {
            let idx: Vec<usize> = (0..records.len())
                .filter(|&i| records[i].error.is_none() && records[i].lang == lang)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let texts: Vec<String> = idx.iter().map(|&i| records[i].text.clone()).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let result = match self.translator.as_mut() {
                Some(t) => t.translate(lang, &refs),
                None => Err(TranslateError::MissingModel {
                    lang: lang.into(),
                    suggested: crate::translate::suggested_model(lang),
                }),
            };
            match result {
                Ok(out) => {
                    let id = self.translator.as_ref().and_then(|t| t.model_id(lang));
                    for (&i, tr) in idx.iter().zip(out) {
                        records[i].translation = Some(tr);
                        if let Some(id) = &id {
                            records[i].model = format!("{} translate:{id}", records[i].model);
                        }
                    }
                }
                Err(e @ TranslateError::MissingModel { .. }) => {
                    let msg = e.to_string();
                    if self.warned.insert(lang.to_string()) {
                        // Once on stderr (not also through tracing, which prints at warn level too).
                        tracing::debug!("{msg}");
                        eprintln!("veille: warning: {msg}");
                    }
                    for &i in &idx {
                        records[i].error = Some(msg.clone());
                    }
                }
                Err(TranslateError::Failed(_)) => {
                    // Isolate the failing paragraphs: retry one at a time.
                    for &i in &idx {
                        let text = records[i].text.clone();
                        let t = self
                            .translator
                            .as_mut()
                            .expect("a translator failed, so one exists");
                        match t.translate(lang, &[text.as_str()]) {
                            Ok(mut v) => records[i].translation = v.pop(),
                            Err(e) => records[i].error = Some(format!("translation failed: {e:#}")),
                        }
                    }
                }
            }
        }
    }

    /// Embeds the text (or its translation) and applies the heads.
    fn classify(&mut self, records: &mut [Record]) {
        let idx: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].error.is_none())
            .collect();
        // The whole group in one call: the encoder sorts every window by length before
        // batching (less padding than batching in input order) and, with several batches,
        // can keep every core busy.
        let texts: Vec<String> = idx
            .iter()
            .map(|&i| {
                records[i]
                    .translation
                    .clone()
                    .unwrap_or_else(|| records[i].text.clone())
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = match self.encoder.embed(&refs) {
            Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
            // One bad paragraph must not fail the others: retry one at a time.
            Err(_) => refs
                .iter()
                .map(|t| {
                    self.encoder
                        .embed(&[t])
                        .map(|mut v| v.pop().unwrap_or_default())
                })
                .collect(),
        };
        for ((&i, v), text) in idx.iter().zip(vectors).zip(&refs) {
            match v {
                Ok(v) => {
                    let (scores, labels) = self.heads.predict(&v, text);
                    records[i].scores = scores;
                    records[i].labels = labels;
                }
                Err(e) => records[i].error = Some(format!("encoder failed: {e:#}")),
            }
        }
    }

    /// Fills `evidence` for labelled records: one sentence per carried label, scored like the
    /// paragraph (translated first under the translate strategy). Records whose sentences
    /// cannot be represented keep their labels and get no evidence (with a warning).
    fn evidence(&mut self, records: &mut [Record]) {
        use crate::evidence::{needs_scoring, pick, sentences};
        let labelled: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].error.is_none() && !records[i].labels.is_empty())
            .collect();
        // Sentences of each labelled record; single-sentence paragraphs are their own evidence.
        let mut pending: Vec<(usize, Vec<crate::evidence::Sentence>)> = Vec::new();
        for &i in &labelled {
            let split = sentences(&records[i].text);
            if needs_scoring(&split) {
                pending.push((i, split));
            } else {
                let r = &mut records[i];
                r.evidence = Some(pick(
                    &r.text,
                    &split,
                    std::slice::from_ref(&r.scores),
                    &r.labels,
                ));
            }
        }
        // What the encoder reads for each pending sentence (translated under `translate`).
        let mut inputs: Vec<(usize, Vec<crate::evidence::Sentence>, Vec<String>)> = Vec::new();
        for (i, split) in pending {
            let texts: Vec<&str> = split.iter().map(|s| s.text(&records[i].text)).collect();
            match self.sentence_inputs(&records[i].lang, &texts) {
                Ok(t) => inputs.push((i, split, t)),
                Err(e) => self.no_evidence(&records[i].id, &e),
            }
        }
        // One encoder pass over every sentence, in full batches across paragraphs.
        let flat: Vec<&str> = inputs
            .iter()
            .flat_map(|(_, _, t)| t.iter().map(String::as_str))
            .collect();
        let (scores, failed): (Vec<crate::record::Scores>, _) = match self.encoder.embed(&flat) {
            Ok(vs) => (
                vs.iter()
                    .zip(&flat)
                    .map(|(v, t)| self.heads.predict(v, t).0)
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e)),
        };
        if let Some(e) = failed {
            // Retry paragraph by paragraph so one bad sentence costs only its paragraph.
            tracing::debug!("evidence batch failed ({e:#}); retrying per paragraph");
            for (i, split, texts) in inputs {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                match self.encoder.embed(&refs) {
                    Ok(vs) => {
                        let sc: Vec<_> = vs
                            .iter()
                            .zip(&refs)
                            .map(|(v, t)| self.heads.predict(v, t).0)
                            .collect();
                        let r = &mut records[i];
                        r.evidence = Some(pick(&r.text, &split, &sc, &r.labels));
                    }
                    Err(e) => self.no_evidence(&records[i].id, &e),
                }
            }
            return;
        }
        let mut at = 0;
        for (i, split, _) in inputs {
            let sc = &scores[at..at + split.len()];
            at += split.len();
            let r = &mut records[i];
            r.evidence = Some(pick(&r.text, &split, sc, &r.labels));
        }
    }

    fn no_evidence(&mut self, id: &str, e: &anyhow::Error) {
        tracing::debug!("no evidence for {id}: {e:#}");
        if self.warned.insert("evidence".into()) {
            eprintln!("veille: warning: no evidence for {id} (its labels stand): {e:#}");
        }
    }

    /// The texts the encoder reads for sentences in language `lang`: the sentences, or their
    /// English translation under the translate strategy.
    fn sentence_inputs(&mut self, lang: &str, texts: &[&str]) -> anyhow::Result<Vec<String>> {
        if self.strategy == Strategy::Translate && lang != "en" {
            let t = self
                .translator
                .as_mut()
                .ok_or_else(|| anyhow::anyhow!("no translation model for {lang}"))?;
            return Ok(t.translate(lang, texts)?);
        }
        Ok(texts.iter().map(|t| t.to_string()).collect())
    }
}
