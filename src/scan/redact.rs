//! Evidence without the secret: what a finding may say about a value it found.

/// `AKIA…[20 chars]`: enough to recognise which key it is, never enough to use it.
pub fn excerpt(secret: &str) -> String {
    let chars = secret.chars().count();
    let shown: String = secret.chars().take(4.min(chars / 4)).collect();
    format!("{shown}…[{chars} chars]")
}

/// `…[20 chars]`: for a value whose owner is already named (a stored credential), not
/// even its first characters.
pub fn length(secret: &str) -> String {
    format!("…[{} chars]", secret.chars().count())
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn shows_a_quarter_at_most_and_never_more_than_four_characters() {
        assert_eq!(excerpt("AKIAIOSFODNN7EXAMPLE"), "AKIA…[20 chars]");
        assert_eq!(excerpt("abc"), "…[3 chars]");
        assert_eq!(excerpt("abcdefgh"), "ab…[8 chars]");
        assert_eq!(super::length("AKIAIOSFODNN7EXAMPLE"), "…[20 chars]");
    }
}
