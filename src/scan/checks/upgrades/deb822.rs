//! A reader of deb822 paragraphs, the format of dpkg's status file and apt's Packages
//! and Release files: `Field: value` lines, paragraphs separated by blank lines.
//! Only single-line fields are kept (continuation lines carry descriptions and file
//! lists, which nothing here reads), so a large Packages file streams through in
//! constant memory.

use std::io::{self, BufRead};

/// One paragraph's fields, in order.
#[derive(Debug, Default)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// A field's value; names are compared case-insensitively, as dpkg does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Calls `each` for every paragraph, keeping only the fields named in `wanted`.
pub fn for_each(
    reader: impl BufRead,
    wanted: &[&str],
    mut each: impl FnMut(&Paragraph),
) -> io::Result<()> {
    let mut paragraph = Paragraph::default();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            if !paragraph.fields.is_empty() {
                each(&paragraph);
                paragraph.fields.clear();
            }
            continue;
        }
        if line.starts_with([' ', '\t', '#']) {
            continue;
        }
        if let Some((name, value)) = line.split_once(':')
            && wanted.iter().any(|w| w.eq_ignore_ascii_case(name))
        {
            paragraph
                .fields
                .push((name.to_owned(), value.trim().to_owned()));
        }
    }
    if !paragraph.fields.is_empty() {
        each(&paragraph);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_keep_the_wanted_single_line_fields() {
        let text = "Package: openssl\nStatus: install ok installed\nDescription: TLS\n \
                    more text\n  Package: not a field\nversion: 3.0.15-1\n\n\n\
                    Package: curl\nVersion: 7.88.1-10\n";
        let mut seen = Vec::new();
        for_each(text.as_bytes(), &["Package", "Version"], |p| {
            seen.push((
                p.get("package").map(str::to_owned),
                p.get("Version").map(str::to_owned),
            ));
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (Some("openssl".into()), Some("3.0.15-1".into())),
                (Some("curl".into()), Some("7.88.1-10".into())),
            ]
        );
    }
}
