//! Plain-text tables for the terminal.

use crate::util::text::{inert, inert_line};

/// Rows padded into columns; the last column is not padded, and its extra lines
/// (a multi-line value) start on lines of their own, indented to the column.
///
/// Cells hold what plugins, engines and the journal said: each is made inert (see
/// [`crate::util::text::inert`]) here, so that no table prints a control sequence, and
/// a newline in any cell but the last is written out rather than breaking the row.
pub fn table<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| {
            std::array::from_fn(|i| {
                if i + 1 == N {
                    inert(&row[i]).into_owned()
                } else {
                    inert_line(&row[i]).into_owned()
                }
            })
        })
        .collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(&row[..N - 1]) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let indent: usize = widths[..N - 1].iter().map(|w| w + 2).sum();
    let mut out = Vec::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row[..N - 1].iter().enumerate() {
            line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
        }
        let mut last = row[N - 1].lines();
        line.push_str(last.next().unwrap_or_default());
        out.push(line.trim_end().to_string());
        for more in last {
            out.push(format!("{:indent$}{more}", "").trim_end().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let rows = [
            ["a".to_string(), "long".to_string(), "x".to_string()],
            ["bbb".to_string(), "s".to_string(), "".to_string()],
        ];
        assert_eq!(table(&rows), ["a    long  x", "bbb  s"]);
        let rows = [["k".to_string(), "one\ntwo".to_string()]];
        assert_eq!(table(&rows), ["k  one", "   two"]);
    }

    #[test]
    fn cells_print_no_control_characters() {
        let rows = [[
            "a\nb".to_string(),
            "\x1b]0;pwned\x07".to_string(),
            "x\x1b[2J\ny".to_string(),
        ]];
        assert_eq!(
            table(&rows),
            [
                "a\\nb  \\x1b]0;pwned\\x07  x\\x1b[2J",
                "                        y"
            ]
        );
    }
}
