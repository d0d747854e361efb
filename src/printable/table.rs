//! Plain-text tables for `list`, `log` and `audit`: a header, then rows, each column as wide as its
//! widest cell (cells are escaped by the caller).

/// The table as lines, trailing spaces trimmed.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    std::iter::once(line(header.to_vec()))
        .chain(
            rows.iter()
                .map(|row| line(row.iter().map(String::as_str).collect())),
        )
        .collect()
}

/// Prints [`render`]'s lines.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    for line in render(header, rows) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec!["i-1".to_string(), "bastion".to_string(), "-".to_string()],
            vec!["i-22".to_string(), "ü".to_string(), String::new()],
        ];
        assert_eq!(
            render(&["ID", "NAME", "GUARD"], &rows),
            ["ID    NAME     GUARD", "i-1   bastion  -", "i-22  ü"]
        );
    }
}
