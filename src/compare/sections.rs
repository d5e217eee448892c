//! The optional report sections, `--significance` and `--by`, in every rendering: plain text,
//! Markdown, long CSV rows and HTML (an interval plot for the differences, a chart per
//! slicing). JSON is their serialised form (`significance`, `significance_settings`, `slices`).

use super::html::{bars, esc, legend};
use super::report::{aligned, letter, md_table, num, Report};
use super::significance::Comparison;
use super::slices::{SlicePair, Slices};
use std::fmt::Write as _;

/// Below this p-value a difference is flagged (`*`).
pub const ALPHA: f64 = 0.05;

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn signed(x: f64) -> String {
    format!("{x:+.3}")
}

/// In words: which system is better on this metric, or that the difference may be noise.
pub fn verdict(c: &Comparison) -> String {
    if c.p_value < ALPHA && c.diff != 0.0 {
        let better = if c.diff > 0.0 {
            letter(c.index_b)
        } else {
            letter(c.index_a)
        };
        format!("{better} better")
    } else {
        "no significant difference".into()
    }
}

const SIG_HEADER: [&str; 10] = [
    "systems", "metric", "first", "second", "diff", "ci-low", "ci-high", "p", "test", "verdict",
];

fn sig_rows(cs: &[Comparison]) -> Vec<Vec<String>> {
    cs.iter()
        .map(|c| {
            vec![
                format!("{} → {}", letter(c.index_a), letter(c.index_b)),
                c.metric.clone(),
                num(c.value_a),
                num(c.value_b),
                signed(c.diff),
                signed(c.ci_low),
                signed(c.ci_high),
                format!(
                    "{}{}",
                    p_text(c.p_value),
                    if c.p_value < ALPHA { " *" } else { "" }
                ),
                c.test.to_string(),
                verdict(c),
            ]
        })
        .collect()
}

fn sig_intro(r: &Report) -> String {
    let s = r.significance_settings.as_ref();
    format!(
        "diff = second − first; 95% paired bootstrap interval; p: approximate randomization (exact match: McNemar's exact test); * p < {ALPHA}; {} resamples, seed {}, {} paragraphs",
        s.map_or(0, |s| s.resamples),
        s.map_or(0, |s| s.seed),
        s.map_or(0, |s| s.n)
    )
}

const SLICE_FIXED: [&str; 8] = [
    "slice", "n", "micro-p", "micro-r", "micro-f1", "macro-f1", "exact", "hamming",
];

fn slice_header(r: &Report) -> Vec<String> {
    let mut h: Vec<String> = SLICE_FIXED.iter().map(|s| s.to_string()).collect();
    h.extend(r.labels.iter().map(|l| format!("{l} f1 (support)")));
    h
}

fn slice_rows(p: &SlicePair) -> Vec<Vec<String>> {
    p.slices
        .iter()
        .map(|(key, s)| {
            let o = &s.overall;
            let mut row = vec![
                key.to_string(),
                o.n.to_string(),
                num(o.micro_precision),
                num(o.micro_recall),
                num(o.micro_f1),
                num(o.macro_f1),
                num(o.exact_match),
                num(o.hamming_loss),
            ];
            row.extend(
                s.per_label
                    .iter()
                    .map(|(_, l)| format!("{} ({})", num(l.f1), l.support)),
            );
            row
        })
        .collect()
}

/// Plain-text sections, appended to the table report.
pub fn table(r: &Report, out: &mut String) {
    if let Some(cs) = &r.significance {
        let _ = writeln!(out, "\nsignificance: {}", sig_intro(r));
        aligned(out, &SIG_HEADER, &sig_rows(cs), 2);
    }
    if let Some(s) = &r.slices {
        let header = slice_header(r);
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        for (i, p) in s.pairs.iter().enumerate() {
            let _ = writeln!(out, "\n{} vs A by {}", letter(i + 1), s.by);
            aligned(out, &h, &slice_rows(p), 1);
        }
    }
}

/// Markdown sections.
pub fn markdown(r: &Report, out: &mut String) {
    if let Some(cs) = &r.significance {
        let _ = writeln!(out, "\n## Significance\n\n{}\n", sig_intro(r));
        md_table(out, &SIG_HEADER, &sig_rows(cs));
    }
    if let Some(s) = &r.slices {
        let header = slice_header(r);
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        for (i, p) in s.pairs.iter().enumerate() {
            let _ = writeln!(out, "\n## {} vs A by `{}`\n", letter(i + 1), s.by);
            md_table(out, &h, &slice_rows(p));
        }
    }
}

/// Long CSV rows `file_a,file_b,scope,key,metric,value`: scope `significance` (key: the
/// metric) and `slice:<by>` (key: the slice value).
pub fn csv_rows(r: &Report, w: &mut csv::Writer<Vec<u8>>) -> anyhow::Result<()> {
    for c in r.significance.iter().flatten() {
        for (m, v) in [
            ("value_a", c.value_a),
            ("value_b", c.value_b),
            ("diff", c.diff),
            ("ci_low", c.ci_low),
            ("ci_high", c.ci_high),
            ("p_value", c.p_value),
        ] {
            w.write_record([
                c.system_a.as_str(),
                &c.system_b,
                "significance",
                &c.metric,
                m,
                &format!("{v}"),
            ])?;
        }
    }
    if let Some(s) = &r.slices {
        let scope = format!("slice:{}", s.by);
        for p in &s.pairs {
            for (key, st) in p.slices.iter() {
                let o = &st.overall;
                let mut row =
                    |m: &str, v: String| w.write_record([p.a.as_str(), &p.b, &scope, key, m, &v]);
                row("n", o.n.to_string())?;
                for (m, v) in [
                    ("micro_precision", o.micro_precision),
                    ("micro_recall", o.micro_recall),
                    ("micro_f1", o.micro_f1),
                    ("macro_precision", o.macro_precision),
                    ("macro_recall", o.macro_recall),
                    ("macro_f1", o.macro_f1),
                    ("exact_match", o.exact_match),
                    ("hamming_loss", o.hamming_loss),
                ] {
                    row(m, format!("{v}"))?;
                }
                for (l, ls) in st.per_label.iter() {
                    row(&format!("precision:{l}"), format!("{}", ls.precision))?;
                    row(&format!("recall:{l}"), format!("{}", ls.recall))?;
                    row(&format!("f1:{l}"), format!("{}", ls.f1))?;
                    row(&format!("support:{l}"), ls.support.to_string())?;
                    row(&format!("predicted:{l}"), ls.predicted.to_string())?;
                }
            }
        }
    }
    Ok(())
}

/// An interval plot: one row per metric, the bootstrap interval as a bar and the observed
/// difference as a dot, on a symmetric axis around zero. Significant rows are coloured.
fn interval_plot(title: &str, cs: &[&Comparison]) -> String {
    let (w, left, right, top, row_h) = (620.0, 190.0, 90.0, 34.0, 22.0);
    let h = top + row_h * cs.len() as f64 + 30.0;
    let reach = cs
        .iter()
        .flat_map(|c| [c.ci_low.abs(), c.ci_high.abs(), c.diff.abs()])
        .fold(0.0f64, f64::max)
        .max(0.01);
    let step = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5]
        .into_iter()
        .find(|s| reach / s <= 4.0)
        .unwrap_or(0.5);
    let reach = (reach / step).ceil() * step;
    let plot = w - left - right;
    let x = |v: f64| left + (v + reach) / (2.0 * reach) * plot;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}">"#,
        t = esc(title)
    );
    let _ = write!(
        s,
        r##"<text x="{left}" y="18" font-size="13" font-weight="600" fill="#0f172a">{}</text>"##,
        esc(title)
    );
    let mut tick = -reach;
    while tick <= reach + 1e-9 {
        let tx = x(tick);
        let zero = tick.abs() < 1e-9;
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{:.1}" stroke="{}" {}/>"##,
            h - 24.0,
            if zero { "#334155" } else { "#e2e8f0" },
            if zero { r#"stroke-width="1.5""# } else { "" }
        );
        let _ = write!(
            s,
            r##"<text x="{tx:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#64748b">{}</text>"##,
            h - 10.0,
            if zero {
                "0".to_string()
            } else {
                format!("{tick:+.2}")
            }
        );
        tick += step;
    }
    for (i, c) in cs.iter().enumerate() {
        let y = top + i as f64 * row_h + row_h / 2.0;
        let significant = c.p_value < ALPHA && c.diff != 0.0;
        let colour = match (significant, c.diff > 0.0) {
            (false, _) => "#94a3b8",
            (true, true) => "#16a34a",
            (true, false) => "#dc2626",
        };
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#0f172a">{}</text>"##,
            left - 8.0,
            y + 4.0,
            esc(&c.metric)
        );
        let _ = write!(
            s,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="4" stroke-linecap="round"><title>{}: 95% interval [{}, {}]</title></line>"#,
            x(c.ci_low),
            x(c.ci_high).max(x(c.ci_low) + 1.0),
            esc(&c.metric),
            signed(c.ci_low),
            signed(c.ci_high)
        );
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{y:.1}" r="5" fill="{colour}" stroke="#ffffff" stroke-width="1.5"><title>{}: diff {} p {}</title></circle>"##,
            x(c.diff),
            esc(&c.metric),
            signed(c.diff),
            p_text(c.p_value)
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#334155">{} · p {}</text>"##,
            w - right + 6.0,
            y + 4.0,
            signed(c.diff),
            p_text(c.p_value)
        );
    }
    s.push_str("</svg>");
    s
}

fn html_table(out: &mut String, header: &[String], rows: &[Vec<String>], left: usize) {
    out.push_str("<table><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if i < left { " class=\"l\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for r in rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if i < left { " class=\"l\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// HTML sections, inserted before the disagreements.
pub fn html(r: &Report, out: &mut String) {
    if let Some(cs) = &r.significance {
        let _ = write!(
            out,
            "<h2>Significance</h2><p class=\"note\">{}. Green: second system better, red: first better, grey: the interval and p allow no difference.</p><div class=\"charts\">",
            esc(&sig_intro(r))
        );
        let mut pairs: Vec<(usize, usize)> = cs.iter().map(|c| (c.index_a, c.index_b)).collect();
        pairs.dedup();
        for (a, b) in pairs {
            let rows: Vec<&Comparison> = cs
                .iter()
                .filter(|c| (c.index_a, c.index_b) == (a, b))
                .collect();
            let _ = write!(
                out,
                "<div class=\"chart\">{}</div>",
                interval_plot(
                    &format!("{} − {} (difference, 95% interval)", letter(b), letter(a)),
                    &rows
                )
            );
        }
        out.push_str("</div>");
        let header: Vec<String> = SIG_HEADER.iter().map(|s| s.to_string()).collect();
        html_table(out, &header, &sig_rows(cs), 2);
    }
    if let Some(s) = &r.slices {
        slices_html(r, s, out);
    }
}

fn slices_html(r: &Report, s: &Slices, out: &mut String) {
    let _ = write!(
        out,
        "<h2>By <code>{}</code></h2><p class=\"note\">Every metric per slice; support is the reference's positives of each label.</p><div class=\"charts\"><div class=\"chart\">",
        esc(&s.by)
    );
    let keys: Vec<String> = s
        .support
        .iter()
        .map(|(k, n)| format!("{k} (n={n})"))
        .collect();
    let palette = [
        "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2",
    ];
    let series: Vec<(String, &str, Vec<Option<f64>>)> = s
        .pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("{} vs A", letter(i + 1)),
                palette[i % palette.len()],
                p.slices
                    .iter()
                    .map(|(_, st)| Some(st.overall.macro_f1))
                    .collect(),
            )
        })
        .collect();
    out.push_str(&bars(&format!("macro-F1 by {}", s.by), &keys, &series, 0.0));
    out.push_str(&legend(
        &series
            .iter()
            .map(|x| (x.0.clone(), x.1))
            .collect::<Vec<_>>(),
    ));
    out.push_str("</div></div>");
    let header = slice_header(r);
    for (i, p) in s.pairs.iter().enumerate() {
        let _ = write!(
            out,
            "<h3>{} vs A by <code>{}</code></h3>",
            letter(i + 1),
            esc(&s.by)
        );
        html_table(out, &header, &slice_rows(p), 1);
    }
}
