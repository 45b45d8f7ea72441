//! Fitting text to the terminal: a line wider than the width is broken at spaces, its
//! continuation indented two more than the line itself. Colour escapes take no width. Tables
//! are sized by comfy-table; this is for the free text around them (findings, problems, the
//! verdict, `kfcheck explain`).

/// Visible width of `s`: characters outside `ESC [ … m` colour sequences.
fn visible(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// `text` with every line fitted to `width` columns (a word longer than the width stays whole).
pub fn fit(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if visible(line) <= width {
            out.push_str(line);
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let cont = " ".repeat((indent + 2).min(width / 2));
        let mut used = 0;
        let mut first = true;
        for word in line.trim_start_matches(' ').split(' ') {
            let w = visible(word);
            if first {
                out.push_str(&line[..indent]);
                out.push_str(word);
                used = indent + w;
                first = false;
            } else if used + 1 + w > width && used > cont.len() {
                out.push('\n');
                out.push_str(&cont);
                out.push_str(word);
                used = cont.len() + w;
            } else {
                out.push(' ');
                out.push_str(word);
                used += 1 + w;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_break_at_spaces_with_a_hanging_indent() {
        let t = fit("  one two three four five six\nshort", 14);
        assert_eq!(t, "  one two\n    three four\n    five six\nshort");
        for l in t.lines() {
            assert!(visible(l) <= 14, "{l:?}");
        }
        // Colour takes no width; a word wider than the line stays whole.
        assert_eq!(
            fit("\u{1b}[31merror\u{1b}[0m x", 7),
            "\u{1b}[31merror\u{1b}[0m x"
        );
        assert_eq!(fit("abcdefghijkl z", 5), "abcdefghijkl\n  z");
    }
}
