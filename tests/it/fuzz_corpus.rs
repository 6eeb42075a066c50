//! The fuzz targets' properties (`dsr::fuzzing`) on stable Rust: every seed of
//! `fuzz/corpus/`, every input that once crashed (`fuzz/regressions/`), and a fixed, seeded
//! set of mutations of the seeds. `scripts/fuzz` runs the same properties under libFuzzer.

use crate::support::repo;
use dsr::fuzzing;

/// xorshift64*: deterministic, so a failure here reproduces on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Interesting bytes for YAML, templates and identities.
const TOKENS: &[&[u8]] = &[
    b":",
    b"- ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"&a ",
    b"*a",
    b"!!str ",
    b"\n  ",
    b"\n",
    b"#",
    b"'",
    b"\"",
    b"${",
    b"${env:",
    b"${file:",
    b"}",
    b"../",
    b"/",
    b"@",
    b"=",
    b"\xff",
    b"\x00",
    b"\t",
    b"identity.email",
    b"users.user_id",
    b"erase: delete",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 if !out.is_empty() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            2 if at < out.len() => out[at] = rng.next() as u8,
            _ => {
                // Repeat a slice: deeper nesting, longer lines.
                let end = (at + rng.below(32)).min(out.len());
                let piece = out[at..end].to_vec();
                for _ in 0..rng.below(8) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
        }
    }
    out
}

fn files(dir: &str) -> Vec<Vec<u8>> {
    let dir = repo().join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(|e| {
            let p = e.ok()?.path();
            Some((p.display().to_string(), std::fs::read(&p).ok()?))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, b)| b).collect()
}

fn exercise(target: &str, check: fn(&[u8]), mutations: usize) {
    let seeds = files(&format!("fuzz/corpus/{target}"));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    for s in &seeds {
        check(s);
    }
    for crash in files(&format!("fuzz/regressions/{target}")) {
        check(&crash);
    }
    let mut rng = Rng(0x5eed_d5a0_0000_0001 ^ target.len() as u64);
    for _ in 0..mutations {
        let seed = &seeds[rng.below(seeds.len())];
        check(&mutate(&mut rng, seed));
    }
}

#[test]
fn playbook_parsing_and_validation_hold_their_properties() {
    exercise("playbook", fuzzing::check_playbook, 1500);
}

#[test]
fn identity_parsing_holds_its_properties() {
    exercise("identity", fuzzing::check_identity, 5000);
}

#[test]
fn templates_hold_their_properties() {
    exercise("interpolate", fuzzing::check_template, 5000);
}
