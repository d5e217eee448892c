//! `--format html`: one self-contained page (inline CSS and SVG, no script, no network) with
//! per-label F1 bars, agreement bars (Cohen's kappa, Krippendorff's alpha, Fleiss' kappa),
//! confusion heat maps, the tables of the text report, the significance and slice sections
//! ([`super::sections`]) and the disagreements, with the evidence sentences the files give
//! for their labels.

use super::report::{letter, PairReport, Report};
use std::fmt::Write as _;

/// One colour per compared file (B, C, ...), then the all-file statistics.
const PALETTE: [&str; 6] = [
    "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2",
];
const ALL_FILES: &str = "#475569";

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(x: f64) -> String {
    format!("{x:.3}")
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_else(|| "n/a".into())
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;background:#f8fafc;margin:0}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:2px solid #e2e8f0;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.files{color:#334155;margin:6px 0 12px;padding-left:18px}.files li{margin:2px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px;color:#1e3a8a}.card span{color:#64748b;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:right}th{background:#f1f5f9}
td.l,th.l{text-align:left}td.t{text-align:left;color:#475569;max-width:420px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px}
.legend{font-size:12px;color:#475569}.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}
.note{color:#64748b;font-size:12px}.ev{font-size:12px;margin-top:3px;color:#334155}.ev mark{background:#fef3c7}.issues{font-family:ui-monospace,monospace;font-size:12px;color:#7c2d12}
"#;

/// Horizontal grouped bars: one group per label, one bar per series, on [lo, 1].
pub(super) fn bars(
    title: &str,
    labels: &[String],
    series: &[(String, &str, Vec<Option<f64>>)],
    lo: f64,
) -> String {
    let (w, left, right, top) = (520.0, 150.0, 20.0, 30.0);
    let bar_h = 14.0;
    let group_h = bar_h * series.len() as f64 + 12.0;
    let h = top + group_h * labels.len() as f64 + 26.0;
    let plot = w - left - right;
    let x = |v: f64| left + (v.clamp(lo, 1.0) - lo) / (1.0 - lo) * plot;
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
    let mut tick = lo;
    while tick <= 1.0 + 1e-9 {
        let tx = x(tick);
        let colour = if tick.abs() < 1e-9 {
            "#64748b"
        } else {
            "#e2e8f0"
        };
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{:.1}" stroke="{colour}"/>"##,
            h - 22.0
        );
        let _ = write!(
            s,
            r##"<text x="{tx:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#64748b">{tick:.2}</text>"##,
            h - 8.0
        );
        tick += 0.25;
    }
    for (g, label) in labels.iter().enumerate() {
        let gy = top + g as f64 * group_h + 6.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#0f172a">{}</text>"##,
            left - 8.0,
            gy + bar_h * series.len() as f64 / 2.0 + 4.0,
            esc(label)
        );
        for (k, (name, colour, values)) in series.iter().enumerate() {
            let y = gy + k as f64 * bar_h;
            match values.get(g).copied().flatten() {
                Some(v) => {
                    let (x0, x1) = (x(0.0_f64.max(lo)), x(v));
                    let (a, b) = if x1 < x0 { (x1, x0) } else { (x0, x1) };
                    let _ = write!(
                        s,
                        r#"<rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}" rx="2"><title>{} · {}: {}</title></rect>"#,
                        (b - a).max(1.0),
                        bar_h - 3.0,
                        esc(label),
                        esc(name),
                        num(v)
                    );
                    let _ = write!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#334155">{}</text>"##,
                        b + 3.0,
                        y + bar_h - 5.0,
                        num(v)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#94a3b8">n/a ({})</text>"##,
                        x(0.0_f64.max(lo)) + 3.0,
                        y + bar_h - 5.0,
                        esc(name)
                    );
                }
            }
        }
    }
    s.push_str("</svg>");
    s
}

pub(super) fn legend(series: &[(String, &str)]) -> String {
    let mut s = String::from(r#"<div class="legend">"#);
    for (name, colour) in series {
        let _ = write!(s, r#"<i style="background:{colour}"></i>{}"#, esc(name));
    }
    s.push_str("</div>");
    s
}

/// 2x2 confusion heat maps, one per label, for one pair (rows: reference, columns: other).
fn confusion(p: &PairReport, b: &str) -> String {
    let cell = 46.0;
    let (pad_l, pad_t) = (44.0, 44.0);
    let one_w = pad_l + 2.0 * cell + 24.0;
    let n_labels = p.per_label.0.len();
    let w = one_w * n_labels as f64;
    let h = pad_t + 2.0 * cell + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="confusion">"#
    );
    for (i, (label, st)) in p.per_label.iter().enumerate() {
        let ox = i as f64 * one_w;
        let c = &st.confusion;
        let n = (c.tp + c.fp + c.fn_ + c.tn).max(1) as f64;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="14" font-size="12" font-weight="600" text-anchor="middle" fill="#0f172a">{}</text>"##,
            ox + pad_l + cell,
            esc(label)
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="32" font-size="10" text-anchor="middle" fill="#64748b">{} no · {} yes</text>"##,
            ox + pad_l + cell,
            esc(b),
            esc(b)
        );
        let cells = [
            (0, 0, c.tn, "tn"),
            (0, 1, c.fp, "fp"),
            (1, 0, c.fn_, "fn"),
            (1, 1, c.tp, "tp"),
        ];
        for (row, col, count, name) in cells {
            let x = ox + pad_l + col as f64 * cell;
            let y = pad_t + row as f64 * cell;
            let share = count as f64 / n;
            let agree = row == col;
            // Agreement cells in blue, disagreement cells in orange; darker = more records.
            let (r, g, bl) = if agree {
                (37.0, 99.0, 235.0)
            } else {
                (234.0, 88.0, 12.0)
            };
            let t = 0.12 + 0.88 * share.sqrt();
            let mix = |c: f64| (255.0 - (255.0 - c) * t).round() as u8;
            let fill = format!("#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(bl));
            let text = if t > 0.55 { "#ffffff" } else { "#0f172a" };
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell}" height="{cell}" fill="{fill}" stroke="#ffffff" stroke-width="2"><title>{} {name}: {count}</title></rect><text x="{:.1}" y="{:.1}" font-size="13" text-anchor="middle" fill="{text}">{count}</text><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="{text}">{name}</text>"##,
                esc(label),
                x + cell / 2.0,
                y + cell / 2.0 + 2.0,
                x + cell / 2.0,
                y + cell / 2.0 + 14.0
            );
        }
        for (row, name) in ["no", "yes"].iter().enumerate() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#64748b">A {name}</text>"##,
                ox + pad_l - 4.0,
                pad_t + row as f64 * cell + cell / 2.0 + 4.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn pair_table(out: &mut String, p: &PairReport) {
    out.push_str(r#"<table><tr><th class="l">label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>predicted</th><th>Cohen κ</th><th>Krippendorff α</th><th>tp</th><th>fp</th><th>fn</th><th>tn</th></tr>"#);
    for (l, s) in p.per_label.iter() {
        let c = &s.confusion;
        let _ = write!(
            out,
            r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(l),
            num(s.precision),
            num(s.recall),
            num(s.f1),
            s.support,
            s.predicted,
            opt(s.cohen_kappa),
            opt(s.krippendorff_alpha),
            c.tp,
            c.fp,
            c.fn_,
            c.tn
        );
    }
    let o = &p.overall;
    let _ = write!(
        out,
        r#"<tr><th class="l">micro</th><td>{}</td><td>{}</td><td>{}</td><td colspan="9"></td></tr>"#,
        num(o.micro_precision),
        num(o.micro_recall),
        num(o.micro_f1)
    );
    let _ = write!(
        out,
        r#"<tr><th class="l">macro</th><td>{}</td><td>{}</td><td>{}</td><td colspan="9"></td></tr></table>"#,
        num(o.macro_precision),
        num(o.macro_recall),
        num(o.macro_f1)
    );
    let _ = write!(
        out,
        r#"<p class="note">exact match {} · Hamming loss {} · Krippendorff α (MASI, label sets) {} · {} records</p>"#,
        num(o.exact_match),
        num(o.hamming_loss),
        opt(p.krippendorff_alpha_masi),
        o.n
    );
    if !p.per_lang.is_empty() {
        out.push_str(r#"<table><tr><th class="l">lang</th><th>n</th><th>micro-F1</th><th>macro-F1</th><th>exact match</th><th>Hamming loss</th></tr>"#);
        for (lang, s) in p.per_lang.iter() {
            let _ = write!(
                out,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(lang),
                s.n,
                num(s.micro_f1),
                num(s.macro_f1),
                num(s.exact_match),
                num(s.hamming_loss)
            );
        }
        out.push_str("</table>");
    }
}

/// The whole page.
pub fn render(r: &Report, max_disagreements: usize) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>veille compare: {}</title><style>{CSS}</style></head><body><main>",
        esc(&r.reference)
    );
    let _ = write!(out, "<h1>veille compare</h1><p class=\"note\">A is the reference (gold) for precision, recall and F1; κ and α are symmetric.</p><ul class=\"files\">");
    for (i, f) in r.files.iter().enumerate() {
        let _ = write!(
            out,
            "<li><b>{}</b> = <code>{}</code> ({}): {} records, {} error records, {} unknown labels, {} duplicate ids, {} unreadable</li>",
            letter(i), esc(&f.path), f.format, f.records, f.error_records, f.unknown_labels, f.duplicate_ids, f.unreadable
        );
    }
    out.push_str("</ul>");
    let mut join = format!("joined <b>{}</b> of {} ids", r.n_joined, r.n_ids);
    for (i, o) in r.only_in.iter().enumerate() {
        if o.count > 0 {
            let some: Vec<String> = o.ids.iter().take(8).map(|s| esc(s)).collect();
            let _ = write!(
                join,
                "; only in {}: {} ({}{})",
                letter(i),
                o.count,
                some.join(", "),
                if o.count > 8 { ", …" } else { "" }
            );
        }
    }
    if r.n_excluded_errors > 0 {
        let _ = write!(join, "; excluded as error records: {}", r.n_excluded_errors);
    }
    let _ = write!(out, "<p>{join}</p>");

    let o = &r.overall;
    out.push_str("<div class=\"cards\">");
    for (name, v) in [
        ("micro-F1 (B vs A)", num(o.micro_f1)),
        ("macro-F1 (B vs A)", num(o.macro_f1)),
        ("exact match", num(o.exact_match)),
        ("Hamming loss", num(o.hamming_loss)),
        ("Krippendorff α, MASI", opt(r.krippendorff_alpha_masi)),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{v}</b><span>{name}</span></div>"
        );
    }
    out.push_str("</div>");

    let labels: Vec<String> = r.labels.clone();
    let pair_series = |f: &dyn Fn(&PairReport, &str) -> Option<f64>| -> Vec<(String, &'static str, Vec<Option<f64>>)> {
        r.pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (format!("{} vs A", letter(i + 1)), PALETTE[i % PALETTE.len()], labels.iter().map(|l| f(p, l)).collect())
            })
            .collect()
    };
    out.push_str("<h2>Per-label F1</h2><div class=\"charts\"><div class=\"chart\">");
    let f1 = pair_series(&|p, l| p.per_label.get(l).map(|s| s.f1));
    out.push_str(&bars("F1 per label", &labels, &f1, 0.0));
    out.push_str(&legend(
        &f1.iter().map(|s| (s.0.clone(), s.1)).collect::<Vec<_>>(),
    ));
    out.push_str("</div><div class=\"chart\">");
    let mut prf = Vec::new();
    if let Some(p) = r.pairs.first() {
        prf.push((
            "precision".to_string(),
            "#0ea5e9",
            labels
                .iter()
                .map(|l| p.per_label.get(l).map(|s| s.precision))
                .collect(),
        ));
        prf.push((
            "recall".to_string(),
            "#f59e0b",
            labels
                .iter()
                .map(|l| p.per_label.get(l).map(|s| s.recall))
                .collect(),
        ));
    }
    out.push_str(&bars("Precision and recall, B vs A", &labels, &prf, 0.0));
    out.push_str(&legend(
        &prf.iter().map(|s| (s.0.clone(), s.1)).collect::<Vec<_>>(),
    ));
    out.push_str("</div></div>");

    out.push_str("<h2>Agreement</h2><div class=\"charts\"><div class=\"chart\">");
    let mut agree = pair_series(&|p, l| p.per_label.get(l).and_then(|s| s.cohen_kappa));
    for s in &mut agree {
        s.0 = format!("Cohen κ {}", s.0);
    }
    agree.push((
        format!("Krippendorff α, all {} files", r.files.len()),
        ALL_FILES,
        labels
            .iter()
            .map(|l| r.per_label.get(l).and_then(|s| s.krippendorff_alpha))
            .collect(),
    ));
    if let Some(fk) = &r.fleiss_kappa {
        agree.push((
            "Fleiss κ, all files".into(),
            "#a16207",
            labels
                .iter()
                .map(|l| fk.get(l).copied().flatten())
                .collect(),
        ));
    }
    let values = agree.iter().flat_map(|s| s.2.iter().flatten().copied());
    let lo = values.fold(0.0f64, f64::min);
    let lo = if lo < 0.0 {
        (lo * 4.0).floor() / 4.0
    } else {
        0.0
    };
    out.push_str(&bars(
        "Chance-corrected agreement per label",
        &labels,
        &agree,
        lo.max(-1.0),
    ));
    out.push_str(&legend(
        &agree.iter().map(|s| (s.0.clone(), s.1)).collect::<Vec<_>>(),
    ));
    out.push_str(
        "<p class=\"note\">n/a: undefined (a single value on both sides).</p></div></div>",
    );

    out.push_str("<h2>Confusion</h2>");
    for (i, p) in r.pairs.iter().enumerate() {
        let b = letter(i + 1);
        let _ = write!(
            out,
            "<h3>{b} vs A</h3><div class=\"chart\">{}</div>",
            confusion(p, &b)
        );
    }

    out.push_str("<h2>Tables</h2>");
    for (i, p) in r.pairs.iter().enumerate() {
        let _ = write!(
            out,
            "<h3>{} vs A: <code>{}</code> against <code>{}</code></h3>",
            letter(i + 1),
            esc(&p.b),
            esc(&p.a)
        );
        pair_table(&mut out, p);
    }
    if let Some(fk) = &r.fleiss_kappa {
        let _ = write!(out, "<h3>All {} files</h3><table><tr><th class=\"l\">label</th><th>Krippendorff α</th><th>Fleiss κ</th></tr>", r.files.len());
        for (l, s) in r.per_label.iter() {
            let _ = write!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(l),
                opt(s.krippendorff_alpha),
                opt(fk.get(l).copied().flatten())
            );
        }
        out.push_str("</table>");
    }

    super::sections::html(r, &mut out);
    let _ = write!(out, "<h2>Disagreements</h2><p class=\"note\">{} records differ; showing {}, most labels differing first.</p>", r.disagreements.len(), r.disagreements.len().min(max_disagreements));
    if !r.disagreements.is_empty() && max_disagreements > 0 {
        out.push_str("<table><tr><th class=\"l\">id</th>");
        for i in 0..r.files.len() {
            let _ = write!(out, "<th class=\"l\">{}</th>", letter(i));
        }
        out.push_str("<th class=\"l\">text</th></tr>");
        for d in r.disagreements.iter().take(max_disagreements) {
            let _ = write!(out, "<tr><td class=\"l\"><code>{}</code></td>", esc(&d.id));
            for ls in &d.labels {
                let _ = write!(
                    out,
                    "<td class=\"l\">{}</td>",
                    if ls.is_empty() {
                        "–".to_string()
                    } else {
                        esc(&ls.join(", "))
                    }
                );
            }
            let _ = write!(
                out,
                "<td class=\"t\">{}",
                esc(d.text.as_deref().unwrap_or(""))
            );
            for e in &d.evidence {
                let _ = write!(
                    out,
                    "<div class=\"ev\"><b>{}</b> {}: <mark>{}</mark></div>",
                    letter(e.file),
                    esc(&e.label),
                    esc(&e.text)
                );
            }
            out.push_str("</td></tr>");
        }
        out.push_str("</table>");
    }
    if !r.issues.is_empty() {
        let _ = write!(
            out,
            "<h2>File issues</h2><p class=\"note\">{} issues (first 50).</p><div class=\"issues\">",
            r.issues.len()
        );
        for i in r.issues.iter().take(50) {
            let _ = write!(out, "{}:{}: {}<br>", esc(&i.file), i.line, esc(&i.message));
        }
        out.push_str("</div>");
    }
    out.push_str("</main></body></html>\n");
    out
}
