//! Splitting a plain-text or Markdown document into paragraphs.
//!
//! Paragraphs are separated by blank lines. Inside a block, hard-wrapped lines are joined
//! with a space, but headings, captions, source lines and list items stay paragraphs of
//! their own even when no blank line separates them from the body: news exports often put
//! a headline directly above the first paragraph.

/// One paragraph with the 1-based line it starts on (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct RawParagraph {
    pub line: usize,
    pub text: String,
}

/// Prefixes that mark a caption or a source line (sv, en, fr).
const CAPTION_PREFIXES: &[&str] = &[
    "foto:",
    "bild:",
    "källa:",
    "källor:",
    "photo:",
    "image:",
    "source:",
    "sources:",
    "credit:",
    "crédit:",
    "crédits:",
    "légende:",
    "illustration:",
];

fn is_heading(line: &str) -> bool {
    line.starts_with('#')
}

fn is_list_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t.starts_with("* ") || t.starts_with("• ")
}

fn is_caption(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    CAPTION_PREFIXES.iter().any(|p| lower.starts_with(p))
}

fn ends_sentence_or_clause(line: &str) -> bool {
    line.trim_end()
        .chars()
        .last()
        .is_some_and(|c| ".!?:;,\"»”’)…-–".contains(c))
}

fn starts_uppercase(line: &str) -> bool {
    line.trim_start()
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || c == '«' || c == '"')
}

/// Does the paragraph end after `line`, although the next line follows without a blank?
fn stands_alone(line: &str, next: &str, wrap_width: usize) -> bool {
    if is_heading(line) || is_caption(line) || is_list_item(line) {
        return true;
    }
    if is_heading(next) || is_caption(next) || is_list_item(next) {
        return true;
    }
    // A short line with no closing punctuation above a capitalised line is a headline or
    // a caption; a hard-wrapped line is close to the block's wrap width.
    let len = line.chars().count();
    !ends_sentence_or_clause(line) && starts_uppercase(next) && (len * 10) < wrap_width * 6
}

fn clean(line: &str) -> &str {
    line.trim().trim_start_matches('#').trim()
}

/// Splits a document into paragraphs. `lines` are the document's lines (without newline).
pub fn split_paragraphs<S: AsRef<str>>(lines: &[S]) -> Vec<RawParagraph> {
    let mut out = Vec::new();
    let mut block: Vec<(usize, &str)> = Vec::new();
    let flush = |block: &mut Vec<(usize, &str)>, out: &mut Vec<RawParagraph>| {
        if block.is_empty() {
            return;
        }
        let wrap_width = block
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut current: Option<RawParagraph> = None;
        for (i, &(line_no, line)) in block.iter().enumerate() {
            let text = clean(line);
            match current.as_mut() {
                Some(p) => {
                    p.text.push(' ');
                    p.text.push_str(text);
                }
                None => {
                    current = Some(RawParagraph {
                        line: line_no,
                        text: text.to_string(),
                    })
                }
            }
            let next = block.get(i + 1).map(|&(_, l)| l);
            if next.is_none_or(|n| stands_alone(line, n, wrap_width)) {
                if let Some(p) = current.take() {
                    if !p.text.is_empty() {
                        out.push(p);
                    }
                }
            }
        }
        block.clear();
    };
    for (i, line) in lines.iter().enumerate() {
        let line = line.as_ref().trim_end_matches('\r');
        if line.trim().is_empty() {
            flush(&mut block, &mut out);
        } else {
            block.push((i + 1, line));
        }
    }
    flush(&mut block, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(doc: &str) -> Vec<String> {
        let lines: Vec<&str> = doc.lines().collect();
        split_paragraphs(&lines)
            .into_iter()
            .map(|p| p.text)
            .collect()
    }

    #[test]
    fn splits_on_blank_lines_and_joins_wrapped_lines() {
        let doc = "First paragraph that is hard\nwrapped over two lines.\n\n\nSecond one.\n";
        assert_eq!(
            texts(doc),
            vec![
                "First paragraph that is hard wrapped over two lines.",
                "Second one."
            ]
        );
    }

    #[test]
    fn keeps_headline_above_body_as_its_own_paragraph() {
        let doc = "Minister warns of foreign meddling\nThe interior minister said on Tuesday that the agency had seen\na sharp rise in attempts to recruit officials, and that it would\npublish its yearly report next week.";
        let t = texts(doc);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0], "Minister warns of foreign meddling");
    }

    #[test]
    fn captions_sources_headings_and_list_items_stand_alone() {
        let doc = "# Rubrik\nBrödtext här som fortsätter.\nFoto: TT\n- punkt ett\n- punkt två\nKällor: SVT";
        let t = texts(doc);
        assert_eq!(
            t,
            vec![
                "Rubrik",
                "Brödtext här som fortsätter.",
                "Foto: TT",
                "- punkt ett",
                "- punkt två",
                "Källor: SVT"
            ]
        );
    }

    #[test]
    fn records_start_lines() {
        let lines = vec!["", "a b c.", "", "", "d e f."];
        let p = split_paragraphs(&lines);
        assert_eq!(p.iter().map(|p| p.line).collect::<Vec<_>>(), vec![2, 5]);
    }

    #[test]
    fn empty_document_has_no_paragraphs() {
        assert!(texts("\n\n  \n").is_empty());
    }
}
