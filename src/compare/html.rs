//! The HTML report (placeholder).
use super::report::Report;
pub fn render(r: &Report, max: usize) -> String {
    format!("<pre>{}</pre>", super::report::table(r, max))
}
