//! veille: news paragraphs in, labelled records out.
//!
//! The crate is one pipeline, one module per stage:
//! [`ingest`] (files, JSON Lines, stdin -> paragraphs) -> [`language`] ->
//! [`represent`] (embed | translate) -> [`classify`] -> [`sinks`] (JSONL, CSV, ...).
//! [`app`] wires the stages for each command of [`cli`]; [`compare`] scores labelled
//! outputs against each other.

pub mod app;
pub mod classify;
pub mod cli;
pub mod compare;
pub mod corpus;
pub mod evidence;
pub mod ingest;
pub mod labels;
pub mod language;
pub mod models;
pub mod pipeline;
pub mod record;
pub mod represent;
pub mod run;
pub mod sinks;
pub mod stream;
pub mod translate;
