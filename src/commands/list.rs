//! `kfcheck list`: every check of the suite (embedded and `--suite`), with its kind, needs and
//! where it is defined.

use crate::model::{AppOutput, ExitStatus};
use crate::report::Format;
use crate::suite::Suite;

/// `kfcheck list`: the checks of the suite, as a table or (`-o json`) a JSON array.
pub(crate) fn list(output: Format, suite: &Suite) -> AppOutput {
    let rows: Vec<serde_json::Value> = suite
        .checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id, "category": c.category, "also_in": c.also_in, "kind": c.kind.meta().name, "title": c.title,
                "enabled": c.enabled, "needs": c.needs().iter().map(|n| n.name()).collect::<Vec<_>>(),
                "origin": c.origin,
            })
        })
        .collect();
    let stdout = match output {
        Format::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        _ => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::NOTHING);
            if let Some(w) = super::shared::terminal_width() {
                t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
                t.set_width(w);
            }
            t.set_header(vec!["ID", "CATEGORY", "KIND", "NEEDS", "ENABLED", "TITLE"]);
            for c in &suite.checks {
                let needs: Vec<&str> = c.needs().iter().map(|n| n.name()).collect();
                t.add_row(vec![
                    c.id.clone(),
                    if c.also_in.is_empty() {
                        c.category.clone()
                    } else {
                        format!("{} (+{})", c.category, c.also_in.join(","))
                    },
                    c.kind.meta().name.to_string(),
                    if needs.is_empty() {
                        "-".into()
                    } else {
                        needs.join(",")
                    },
                    if c.enabled { "yes".into() } else { "no".into() },
                    c.title.clone(),
                ]);
            }
            t.to_string() + "\n"
        }
    };
    AppOutput {
        stdout,
        exit: Some(if suite.checks.is_empty() {
            ExitStatus::NothingSelected
        } else {
            ExitStatus::Ready
        }),
        ..Default::default()
    }
}
