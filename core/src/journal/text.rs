//! Canonical bytes straight from JSON text, without building a `serde_json::Value`: the
//! journal hashes every record on the sale path (device) and the upload path (server), and
//! the tree of a `Value` cost more than the rest of the hash. Only text whose every token is
//! already in canonical form is handled here; anything else (an escape JCS writes
//! differently, a non-ASCII member name, a fraction, `-0`, invalid JSON) answers `None` and
//! the caller takes the `Value` path, which is the definition.

/// The canonical bytes of `text` (one JSON value), or `None` when this fast path cannot
/// vouch for them.
pub(super) fn canonical(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut p = Parser { s: text, at: 0 };
    p.value(&mut out, 0)?;
    p.ws();
    (p.at == text.len()).then_some(out)
}

/// Deeper than any record; bounds the recursion on hostile input.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.at) == Some(&b)).then(|| self.at += 1)
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.at)? {
            b'{' => self.object(out, depth),
            b'[' => {
                self.at += 1;
                out.push(b'[');
                self.ws();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                } else {
                    loop {
                        self.value(out, depth + 1)?;
                        self.ws();
                        match *self.s.get(self.at)? {
                            b',' => out.push(b','),
                            b']' => break,
                            _ => return None,
                        }
                        self.at += 1;
                    }
                    self.at += 1;
                }
                out.push(b']');
                Some(())
            }
            b'"' => {
                let (start, end) = self.string()?;
                out.extend_from_slice(&self.s[start..end]);
                Some(())
            }
            b't' => self.literal(b"true", out),
            b'f' => self.literal(b"false", out),
            b'n' => self.literal(b"null", out),
            b'-' | b'0'..=b'9' => self.integer(out),
            _ => None,
        }
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.at += 1;
        out.push(b'{');
        // Members are written in arrival order and put in order afterwards if need be:
        // (name, where the member's `"name":value` starts and ends in `out`).
        let base = out.len();
        let mut members: Vec<(&[u8], usize, usize)> = Vec::new();
        self.ws();
        if self.s.get(self.at) == Some(&b'}') {
            self.at += 1;
        } else {
            loop {
                self.ws();
                if self.s.get(self.at) != Some(&b'"') {
                    return None;
                }
                let (start, end) = self.string()?;
                let name = &self.s[start..end];
                // Byte order is UTF-16 order for ASCII names without escapes.
                if name.iter().any(|&b| b >= 0x80 || b == b'\\') {
                    return None;
                }
                self.eat(b':')?;
                if !members.is_empty() {
                    out.push(b',');
                }
                let from = out.len();
                out.extend_from_slice(name);
                out.push(b':');
                self.value(out, depth + 1)?;
                members.push((name, from, out.len()));
                self.ws();
                match *self.s.get(self.at)? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        // Strictly increasing names are in order and unique: nothing to move.
        if !members.is_sorted_by(|a, b| a.0 < b.0) {
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            if members.windows(2).any(|w| w[0].0 == w[1].0) {
                return None; // a repeated name: the Value path decides
            }
            let written = out.split_off(base);
            for (i, &(_, from, to)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&written[from - base..to - base]);
            }
        }
        out.push(b'}');
        Some(())
    }

    /// A string token already in canonical form; its span, quotes included.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.at;
        self.at += 1;
        loop {
            let b = *self.s.get(self.at)?;
            self.at += 1;
            match b {
                b'"' => break,
                0..=0x1f => return None,
                b'\\' => {
                    let e = *self.s.get(self.at)?;
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => {}
                        b'u' => {
                            // JCS writes \u only for the control characters without a short form,
                            // as \u00 and two lowercase hex digits.
                            let hex = self.s.get(self.at..self.at + 4)?;
                            self.at += 4;
                            let lower = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
                            if hex[0] != b'0'
                                || hex[1] != b'0'
                                || !(b'0'..=b'1').contains(&hex[2])
                                || !lower(hex[3])
                            {
                                return None;
                            }
                            let code = u8::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16)
                                .ok()?;
                            if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                        }
                        _ => return None,
                    }
                }
                _ => {}
            }
        }
        // The bytes are copied as they are: they must be UTF-8.
        std::str::from_utf8(&self.s[start..self.at]).ok()?;
        Some((start, self.at))
    }

    fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> Option<()> {
        (self.s.get(self.at..self.at + word.len())? == word).then(|| {
            self.at += word.len();
            out.extend_from_slice(word);
        })
    }

    /// An integer in plain decimal digits (what JCS writes for one that fits an i64 or u64).
    fn integer(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let start = self.at;
        if self.s[self.at] == b'-' {
            self.at += 1;
        }
        let digits = self.at;
        while let Some(b'0'..=b'9') = self.s.get(self.at) {
            self.at += 1;
        }
        let token = &self.s[start..self.at];
        let body = &self.s[digits..self.at];
        let plain = !body.is_empty()
            && (body == b"0" || body[0] != b'0')
            && token != b"-0"
            && !matches!(self.s.get(self.at), Some(b'.' | b'e' | b'E'));
        // Within i64/u64: larger ones are floats to serde_json, refused by the definition.
        let fits = std::str::from_utf8(token)
            .ok()
            .is_some_and(|t| t.parse::<i64>().is_ok() || t.parse::<u64>().is_ok());
        (plain && fits).then(|| out.extend_from_slice(token))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::canonical;
    use crate::journal::canonical_bytes;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[ -~]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof!["[a-z_]{1,6}", any::<String>()],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Only plain members, integers and strings: what records hold.
    fn record_like() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the fast path answers is what the definition answers.
        #[test]
        fn the_fast_path_never_disagrees_with_the_definition(v in json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }
                .expect("serialize");
            if let Some(fast) = canonical(&text) {
                let parsed: Value = serde_json::from_slice(&text).expect("parse");
                prop_assert_eq!(Ok(fast), canonical_bytes(&parsed));
            }
        }

        /// serde_json's own output of a record-like value always takes the fast path.
        #[test]
        fn records_take_the_fast_path(v in record_like()) {
            let text = serde_json::to_vec(&v).expect("serialize");
            prop_assert_eq!(canonical(&text), Some(canonical_bytes(&v).expect("canonical")));
        }

        /// Arbitrary text: never a panic, and never an answer the definition would not give.
        #[test]
        fn hostile_text_is_vouched_for_only_when_right(text in prop::collection::vec(
            prop_oneof![Just(b'"'), Just(b'\\'), Just(b'{'), Just(b'}'), Just(b'['), Just(b']'),
                        Just(b':'), Just(b','), Just(b'u'), Just(b'0'), Just(b'-'), any::<u8>()],
            0..40)) {
            if let Some(fast) = canonical(&text) {
                let parsed: Value = serde_json::from_slice(&text).expect("vouched text parses");
                prop_assert_eq!(Ok(fast), canonical_bytes(&parsed));
            }
        }
    }

    #[test]
    fn escapes_jcs_writes_otherwise_take_the_slow_path() {
        for text in [
            r#""\u0041""#, // JCS writes A
            r#""\/""#,     // JCS writes /
            r#""\u000a""#, // JCS writes \n
            r#""\u001F""#, // JCS writes lowercase hex
            r#""\ud83d\ude00""#,
            r#"{"é":1}"#, // member order by UTF-16 needs the definition
            r#"{"a":1,"a":2}"#,
            "-0",
            "1.5",
            "1e3",
            "01",
            "18446744073709551616",
        ] {
            assert_eq!(canonical(text.as_bytes()), None, "{text}");
        }
        assert_eq!(
            canonical(br#" { "b" : [1, "\u001f\n"], "a" : {} } "#),
            Some(br#"{"a":{},"b":[1,"\u001f\n"]}"#.to_vec())
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        assert_eq!(canonical(text.as_bytes()), None);
    }
}
