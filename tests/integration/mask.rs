//! `sesame exec --mask`: every injected value is replaced in the command's
//! stdout and stderr, on a pipe and on a pseudo-terminal, whatever the
//! reads look like.

use crate::support::{env_config, Sandbox};

const MARKER: &[u8] = b"<concealed by sesame>";
const TOKEN: &str = "tok-0123456789abcdef";
const LEFT: &str = "abcdefgh-1111";
const RIGHT: &str = "1111-zyxwvuts";
const PEM: &str = "-----BEGIN-----\nMIIBOGUS1234\n-----END-----";

fn sandbox() -> Sandbox {
    let mut sb = Sandbox::new(&env_config(&[
        ("TOKEN", "SRC_TOKEN"),
        ("LEFT", "SRC_LEFT"),
        ("RIGHT", "SRC_RIGHT"),
        ("PEM", "SRC_PEM"),
        ("SHORT", "SRC_SHORT"),
    ]));
    sb.set("SRC_TOKEN", TOKEN)
        .set("SRC_LEFT", LEFT)
        .set("SRC_RIGHT", RIGHT)
        .set("SRC_PEM", PEM)
        .set("SRC_SHORT", "7");
    sb
}

/// Binary filler (bytes 0x80..=0xff, never part of a value), then values:
/// across every 4 KiB boundary (pipe pages and reads split there), two
/// values overlapping, a multi-line value whole and line by line with
/// `\r\n`. Returns the output and the output as the mask must leave it.
fn payload(size: usize, binary: bool) -> (Vec<u8>, Vec<u8>) {
    let mut seed: u32 = 12345;
    let mut filler = |n: usize, into: &mut Vec<u8>, expect: &mut Vec<u8>| {
        for _ in 0..n {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let byte = if binary {
                0x80 | (seed >> 24) as u8
            } else {
                b'a' + (seed >> 24) as u8 % 5
            };
            into.push(byte);
            expect.push(byte);
        }
    };
    let (mut out, mut expect) = (Vec::new(), Vec::new());
    let mut n = 0;
    while out.len() < size {
        // Start the value a few bytes before the next 4 KiB boundary.
        let boundary = (out.len() / 4096 + 1) * 4096;
        let lead = boundary - out.len() - (n % TOKEN.len()).min(boundary - out.len());
        filler(lead, &mut out, &mut expect);
        match n % 3 {
            0 => {
                out.extend_from_slice(TOKEN.as_bytes());
                expect.extend_from_slice(MARKER);
            }
            1 => {
                // LEFT and RIGHT overlap in "1111": one marker for both.
                out.extend_from_slice(b"abcdefgh-1111-zyxwvuts");
                expect.extend_from_slice(MARKER);
            }
            _ => {
                out.extend_from_slice(PEM.replace('\n', "\r\n").as_bytes());
                expect.extend_from_slice(MARKER);
                expect.extend_from_slice(b"\r\n");
                expect.extend_from_slice(MARKER);
                expect.extend_from_slice(b"\r\n");
                expect.extend_from_slice(MARKER);
            }
        }
        out.extend_from_slice(b" 7 ");
        expect.extend_from_slice(b" 7 ");
        n += 1;
    }
    (out, expect)
}

fn assert_same(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let at = actual
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(actual.len().min(expected.len()));
        let from = at.saturating_sub(40);
        panic!(
            "{what}: {} bytes, expected {}; first difference at {at}:\n  got      {:?}\n  expected {:?}",
            actual.len(),
            expected.len(),
            String::from_utf8_lossy(&actual[from..(at + 60).min(actual.len())]),
            String::from_utf8_lossy(&expected[from..(at + 60).min(expected.len())]),
        );
    }
}

#[test]
fn five_megabytes_on_pipes_are_masked_at_every_boundary() {
    let sb = sandbox();
    let (out, expect) = payload(5 << 20, true);
    let path = sb.path("payload.bin");
    std::fs::write(&path, &out).unwrap();
    let file = path.to_str().unwrap();
    let run = sb.run(&[
        "exec",
        "--mask",
        "--",
        "sh",
        "-c",
        &format!("cat '{file}'; cat '{file}' >&2; exit 3"),
    ]);
    run.assert_code(3);
    assert_same(&run.0.stdout, &expect, "stdout");
    let stderr = &run.0.stderr;
    let warning = b"sesame: warning: `SHORT` is shorter than 4 characters and is not masked in the output\n";
    assert!(
        stderr.starts_with(warning),
        "{}",
        String::from_utf8_lossy(&stderr[..200])
    );
    assert_same(&stderr[warning.len()..], &expect, "stderr");
}

#[test]
fn values_printed_by_the_command_itself_are_masked_and_others_are_not() {
    let sb = sandbox();
    let run = sb.run(&[
        "exec",
        "--mask",
        "--",
        "sh",
        "-c",
        "printf '%s|' \"$TOKEN\" \"$LEFT$RIGHT\" \"$SHORT\" plain; printf '%s\\n' \"$PEM\"; printf x%sx \"$TOKEN\" >&2",
    ]);
    run.assert_code(0);
    assert_eq!(
        run.stdout(),
        "<concealed by sesame>|<concealed by sesame><concealed by sesame>|7|plain|<concealed by sesame>\n"
    );
    assert!(run.stderr().ends_with("x<concealed by sesame>x"), "{}", run.stderr());
    // Without --mask nothing changes.
    let run = sb.run(&["exec", "--no-mask", "--", "sh", "-c", "printf %s \"$TOKEN\""]);
    assert_eq!(run.stdout(), TOKEN);
}

#[test]
fn ci_turns_masking_on_when_output_is_not_a_terminal() {
    let mut sb = sandbox();
    let print = ["exec", "--", "sh", "-c", "printf %s \"$TOKEN\""];
    assert_eq!(sb.run(&print).stdout(), TOKEN, "off by default");
    sb.set("CI", "true");
    assert_eq!(sb.run(&print).stdout(), "<concealed by sesame>", "on in CI");
    let mut no_mask = print.to_vec();
    no_mask.insert(1, "--no-mask");
    assert_eq!(sb.run(&no_mask).stdout(), TOKEN, "--no-mask wins");
}

#[test]
fn mask_false_counts_only_from_a_trusted_file() {
    let mut sb = sandbox();
    let config = format!(
        "{}\n[exec]\nmask = false\n",
        std::fs::read_to_string(sb.project().join("sesame.toml")).unwrap()
    );
    std::fs::write(sb.project().join("sesame.toml"), config).unwrap();
    sb.set("CI", "1");
    let print = ["exec", "--", "sh", "-c", "printf %s \"$TOKEN\""];
    let run = sb.run(&print);
    assert_eq!(run.stdout(), "<concealed by sesame>");
    assert!(run.stderr().contains("`mask = false` in"), "{}", run.stderr());
    sb.trust_project();
    assert_eq!(sb.run(&print).stdout(), TOKEN);
}

#[test]
fn on_a_terminal_the_command_keeps_one_and_its_output_is_masked() {
    let sb = sandbox();
    let (out, _) = payload(1 << 20, false);
    let path = sb.path("payload.txt");
    std::fs::write(&path, &out).unwrap();
    let script = format!(
        "test -t 0 && test -t 1 && test -t 2 && echo on-a-terminal; cat '{}'; printf '%s\\n' \"$PEM\"; exit 5",
        path.display()
    );
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/pty_capture.py");
    let run = std::process::Command::new("python3")
        .args([
            capture,
            crate::support::sesame_bin(),
            "exec",
            "--mask",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .current_dir(sb.project())
        .env_clear()
        .envs(&sb.env)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(5), "{}", String::from_utf8_lossy(&run.stderr));
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("on-a-terminal\r\n"), "{}", &text[..200.min(text.len())]);
    for value in [TOKEN, LEFT, RIGHT, "MIIBOGUS1234", "-----BEGIN-----"] {
        assert!(!text.contains(value), "{value} leaked through the terminal");
    }
    let markers = text.matches("<concealed by sesame>").count();
    let (_, expect) = payload(1 << 20, false);
    let expected = String::from_utf8_lossy(&expect)
        .matches("<concealed by sesame>")
        .count()
        + 3;
    assert_eq!(markers, expected);
}
