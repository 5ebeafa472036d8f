//! A position in one line of JSON, and the token readers owl's JSON paths share (`ndjson`'s fast path,
//! `json_serde`'s rewriter): strings unescaped and checked as arrow-json checks them, numbers as its tape takes
//! them, values stepped over.

use super::columns::{Step, Unhandled};

/// The JSON nesting a skipped value may have; deeper input is left to arrow-json.
const MAX_DEPTH: usize = 64;

/// A string's unescaped text: a span of the line, or (when it had escapes) the decoder's scratch buffer.
pub(crate) enum Text {
    Line(usize, usize),
    Scratch,
}

/// A position in one line.
pub(crate) struct Cursor<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Cursor { b: line, i: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.i
    }

    /// Steps over the byte `peek` showed.
    pub(crate) fn advance(&mut self) {
        self.i += 1;
    }

    /// The bytes from `start` to here.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.b[start..self.i]
    }

    /// A string after its opening quote, unescaped (into `scratch` when it has escapes).
    pub(crate) fn string_text<'s>(&mut self, scratch: &'s mut Vec<u8>) -> Step<&'s [u8]>
    where
        'a: 's,
    {
        Ok(match self.string(scratch)? {
            Text::Line(start, end) => &self.b[start..end],
            Text::Scratch => &scratch[..],
        })
    }

    /// Steps over one value, checking it is well-formed JSON.
    pub(crate) fn skip(&mut self, scratch: &mut Vec<u8>) -> Step {
        self.skip_value(scratch, 0)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    pub(crate) fn peek(&self) -> Step<u8> {
        self.b.get(self.i).copied().ok_or(Unhandled)
    }

    pub(crate) fn next(&mut self) -> Step<u8> {
        let b = self.peek()?;
        self.i += 1;
        Ok(b)
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }

    pub(crate) fn expect(&mut self, b: u8) -> Step {
        if self.eat(b) { Ok(()) } else { Err(Unhandled) }
    }

    /// JSON whitespace within a line.
    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Step {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Unhandled)
        }
    }

    /// A number's text, as arrow-json's tape takes it (parsed, and so checked, by the column).
    pub(crate) fn number(&mut self) -> &'a [u8] {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    /// An object key (after its opening quote) without escapes.
    pub(crate) fn key(&mut self) -> Step<&'a [u8]> {
        let rest = &self.b[self.i..];
        let end = memchr::memchr2(b'"', b'\\', rest).ok_or(Unhandled)?;
        if rest[end] != b'"' {
            return Err(Unhandled);
        }
        let key = &rest[..end];
        checked_utf8(key)?;
        self.i += end + 1;
        Ok(key)
    }

    /// A string after its opening quote: its text, unescaped into `scratch` if it has escapes. Its bytes are
    /// checked to be UTF-8, as arrow-json checks them.
    pub(crate) fn string(&mut self, scratch: &mut Vec<u8>) -> Step<Text> {
        let start = self.i;
        let rest = &self.b[start..];
        let end = memchr::memchr2(b'"', b'\\', rest).ok_or(Unhandled)?;
        checked_utf8(&rest[..end])?;
        if rest[end] == b'"' {
            self.i += end + 1;
            return Ok(Text::Line(start, start + end));
        }
        scratch.clear();
        scratch.extend_from_slice(&rest[..end]);
        self.i += end;
        loop {
            // At a backslash.
            self.i += 1;
            match self.next()? {
                b'"' => scratch.push(b'"'),
                b'\\' => scratch.push(b'\\'),
                b'/' => scratch.push(b'/'),
                b'b' => scratch.push(8),
                b'f' => scratch.push(12),
                b'n' => scratch.push(b'\n'),
                b'r' => scratch.push(b'\r'),
                b't' => scratch.push(b'\t'),
                b'u' => {
                    let high = self.hex4()?;
                    let c = match char::from_u32(u32::from(high)) {
                        Some(c) => c,
                        None => {
                            // A surrogate: a low one must follow, as `\uXXXX`.
                            self.expect(b'\\')?;
                            self.expect(b'u')?;
                            let low = self.hex4()?;
                            surrogate_pair(high, low)?
                        }
                    };
                    let mut utf8 = [0; 4];
                    scratch.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                _ => return Err(Unhandled),
            }
            let rest = &self.b[self.i..];
            let end = memchr::memchr2(b'"', b'\\', rest).ok_or(Unhandled)?;
            checked_utf8(&rest[..end])?;
            scratch.extend_from_slice(&rest[..end]);
            self.i += end;
            if rest[end] == b'"' {
                self.i += 1;
                return Ok(Text::Scratch);
            }
        }
    }

    fn hex4(&mut self) -> Step<u16> {
        let mut v = 0u16;
        for _ in 0..4 {
            let d = match self.next()? {
                b @ b'0'..=b'9' => b - b'0',
                b @ b'a'..=b'f' => b - b'a' + 10,
                b @ b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(Unhandled),
            };
            v = (v << 4) | u16::from(d);
        }
        Ok(v)
    }

    /// Steps over one value of a field that is not projected, checking it is well-formed JSON.
    pub(crate) fn skip_value(&mut self, scratch: &mut Vec<u8>, depth: usize) -> Step {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string(scratch).map(|_| ())
            }
            b'-' | b'0'..=b'9' => {
                self.number();
                Ok(())
            }
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'{' if depth < MAX_DEPTH => {
                self.i += 1;
                self.ws();
                if self.eat(b'}') {
                    return Ok(());
                }
                loop {
                    self.expect(b'"')?;
                    self.string(scratch)?;
                    self.ws();
                    self.expect(b':')?;
                    self.ws();
                    self.skip_value(scratch, depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b'}' => return Ok(()),
                        _ => return Err(Unhandled),
                    }
                }
            }
            b'[' if depth < MAX_DEPTH => {
                self.i += 1;
                self.ws();
                if self.eat(b']') {
                    return Ok(());
                }
                loop {
                    self.skip_value(scratch, depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b']' => return Ok(()),
                        _ => return Err(Unhandled),
                    }
                }
            }
            _ => Err(Unhandled),
        }
    }
}

fn checked_utf8(bytes: &[u8]) -> Step {
    if bytes.is_ascii() || simdutf8::basic::from_utf8(bytes).is_ok() {
        Ok(())
    } else {
        Err(Unhandled)
    }
}

/// The character of a UTF-16 surrogate pair. Not as arrow-json 59 combines them: it ORs the low half's
/// offset and 0x10000 into the high half's bits, which is right below U+20000 only (`\ud840\udc00` is U+20000,
/// arrow-json reads U+10000). The one place owl's rows differ from arrow-json's, on purpose.
fn surrogate_pair(high: u16, low: u16) -> Step<char> {
    if !(0xD800..0xDC00).contains(&high) || !(0xDC00..0xE000).contains(&low) {
        return Err(Unhandled);
    }
    let n = (((u32::from(high) - 0xD800) << 10) | (u32::from(low) - 0xDC00)) + 0x1_0000;
    char::from_u32(n).ok_or(Unhandled)
}
