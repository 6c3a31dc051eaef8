//! The parser never panics, and the canonical file is a fixed point: for any input `x` that
//! parses and has a canonical form `c`, `c` parses to the same instructions and images, and
//! its canonical form is `c` again, byte for byte. The same holds once every image is pinned
//! to an id.
//!
//! In host/dockerfile/fuzz (README.md says more; scripts/test runs it for 30 s):
//!
//!   mkdir -p corpus/canonical
//!   cargo fuzz run -s none canonical corpus/canonical seeds/canonical -- -dict=canonical.dict
#![no_main]

use dockwright_dockerfile::{Dockerfile, ImageUse, MAX_LINE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Non-UTF-8 bytes become U+FFFD: the parser takes `&str`, and the rest of the input
    // still reaches it.
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = Dockerfile::parse(&text) else {
        return;
    };
    let _ = parsed.runs_commands();
    let Ok(canonical) = parsed.canonical() else {
        return;
    };
    let again = check_fixed_point(&canonical, "canonical");
    assert_eq!(
        ops(&again),
        ops(&parsed),
        "the canonical file reads as other instructions\ninput: {text:?}\ncanonical: {canonical:?}"
    );
    assert_eq!(
        again.runs_commands(),
        parsed.runs_commands(),
        "runs_commands differs\ncanonical: {canonical:?}"
    );
    // The same images, read the same way; each on the canonical line of its instruction.
    let before = parsed.images();
    let after = again.images();
    assert_eq!(
        uses(&after),
        uses(&before),
        "the canonical file reads other images\ninput: {text:?}\ncanonical: {canonical:?}"
    );
    for (a, b) in after.iter().zip(&before) {
        let index = parsed
            .instructions
            .iter()
            .position(|i| i.line == b.line)
            .expect("an image's line is the line of an instruction");
        assert_eq!(
            a.line,
            index + 1,
            "image {:?} on the wrong line\ncanonical: {canonical:?}",
            a.image
        );
    }

    // Pinned: every image named by a fake id.
    let mut pinned = parsed.clone();
    pinned.pin(fake_id);
    let expected: Vec<(String, bool)> =
        before.iter().map(|u| (fake_id(&u.image), u.base)).collect();
    assert_eq!(
        uses(&pinned.images()),
        expected,
        "pin missed an image\ninput: {text:?}"
    );
    match pinned.canonical() {
        Ok(pinned_text) => {
            let back = check_fixed_point(&pinned_text, "pinned canonical");
            assert_eq!(
                ops(&back),
                ops(&pinned),
                "the pinned canonical file reads as other instructions\npinned: {pinned_text:?}"
            );
            assert_eq!(
                uses(&back.images()),
                expected,
                "the pinned canonical file reads other images\npinned: {pinned_text:?}"
            );
        }
        // An id may be longer than the reference it replaces: the only refusal allowed is a
        // line that grew past MAX_LINE.
        Err(e) => {
            let lines: Vec<&str> = canonical.lines().collect();
            let too_long = before.iter().any(|u| {
                let index = parsed
                    .instructions
                    .iter()
                    .position(|i| i.line == u.line)
                    .unwrap();
                u.line == e.line
                    && lines[index].len() - u.image.len() + fake_id(&u.image).len() > MAX_LINE
            });
            assert!(
                too_long,
                "pinning made the file unwritable: {e}\ninput: {text:?}"
            );
        }
    }
});

/// Parse `c`, which must parse, and check that its canonical form is `c` again.
fn check_fixed_point(c: &str, what: &str) -> Dockerfile {
    let back = Dockerfile::parse(c)
        .unwrap_or_else(|e| panic!("the {what} file does not parse: {e}\n{what}: {c:?}"));
    let lines: Vec<usize> = back.instructions.iter().map(|i| i.line).collect();
    let expected: Vec<usize> = (1..=back.instructions.len()).collect();
    assert_eq!(
        lines, expected,
        "the {what} file is not one instruction a line\n{what}: {c:?}"
    );
    let c2 = back
        .canonical()
        .unwrap_or_else(|e| panic!("the {what} file has no canonical form: {e}\n{what}: {c:?}"));
    assert_eq!(c2, c, "canonical is not a fixed point\n{what}: {c:?}");
    let twice = Dockerfile::parse(&c2).expect("it parsed a moment ago");
    assert_eq!(twice.images(), back.images());
    back
}

fn ops(d: &Dockerfile) -> Vec<&dockwright_dockerfile::Op> {
    d.instructions.iter().map(|i| &i.op).collect()
}

/// The images and how they are read, without the lines (the canonical file has its own).
fn uses(images: &[ImageUse]) -> Vec<(String, bool)> {
    images.iter().map(|u| (u.image.clone(), u.base)).collect()
}

/// `sha256:` and 64 hex digits, a function of the image.
fn fake_id(image: &str) -> String {
    let mut id = String::from("sha256:");
    for seed in 0..4u64 {
        // FNV-1a, seeded.
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for b in image.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        id.push_str(&format!("{h:016x}"));
    }
    id
}
