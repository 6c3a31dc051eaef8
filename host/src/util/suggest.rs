//! "Did you mean ...?" for mistyped workflow and param names.

/// Edit distance between two strings, by characters, where swapping two neighbours
/// counts as one edit (the commonest typo: `imgae` for `image`).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i chars of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidates close enough to `wanted` to be what the user meant, closest first.
/// Close means within a third of the length (at least 1 edit, at most 3), or one
/// contains the other.
pub fn close<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (wanted.chars().count() / 3).clamp(1, 3);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let d = distance(wanted, c);
            let contains = !wanted.is_empty() && (c.contains(wanted) || wanted.contains(c));
            (d <= limit || contains).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, c)| c).collect()
}

/// The single closest candidate, if any is close.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    close(wanted, candidates).into_iter().next()
}

/// " Did you mean `a` or `b`?" for the close candidates, or nothing when none is close.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match close(wanted, candidates).as_slice() {
        [] => String::new(),
        names => format!(
            " Did you mean {}?",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("abc", "abd"), 1);
        assert_eq!(distance("team-env", "tem-env"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("imgae", "image"), 1);
    }

    #[test]
    fn close_names() {
        let names = [
            "team-env",
            "team-env-teardown",
            "ps",
            "build-image",
            "banner",
        ];
        assert_eq!(closest("tem-env", names), Some("team-env"));
        assert_eq!(closest("build", names), Some("build-image"));
        assert_eq!(closest("pss", names), Some("ps"));
        assert_eq!(closest("zzzzzz", names), None);
        assert_eq!(closest("imgae", ["image", "name"]), Some("image"));
        assert_eq!(close("team", names), vec!["team-env", "team-env-teardown"]);
        assert_eq!(
            did_you_mean("team", names),
            " Did you mean `team-env` or `team-env-teardown`?"
        );
        assert_eq!(did_you_mean("zzzzzz", names), "");
    }
}
