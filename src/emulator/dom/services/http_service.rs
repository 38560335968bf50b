//! `HttpService`: `JSONEncode`/`JSONDecode` by Roblox's rules, `GenerateGUID`, `UrlEncode`;
//! the network members fail, saying the local emulator makes no HTTP requests.
//!
//! JSON, as Roblox writes and reads it (where Roblox does not document a case, the choice is
//! written here and in the README): a table whose keys are exactly 1..n is an array (`{}` is
//! `[]`), any other table an object whose number keys are written as strings, keys sorted so
//! the text is the same from run to run; a table that contains itself fails with `tables cannot
//! be cyclic`; NaN and ±infinity are written `null` (JSON has no text for them), as are
//! instances and Roblox datatypes (they are not JSON values); functions, threads and buffers,
//! and keys that are neither strings nor numbers, fail with `Can't convert to JSON`. Decoding
//! text that is not JSON fails with `Can't parse JSON`; `null` decodes to `nil`, so it leaves a
//! hole in an array and no key in an object.

use mlua::{Lua, LuaString, Table, Value};

use crate::emulator::dom::classes::Registrar;

/// Tables nested deeper than this cannot be encoded (the encoder recurses).
const MAX_DEPTH: usize = 512;
/// Encoded text longer than this fails: a table shared by two keys at each level doubles the
/// text with every level, and the text is built outside the task's memory cap.
const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;
/// The network members, which fail when called.
const NETWORK: &[&str] = &[
    "GetAsync",
    "PostAsync",
    "RequestAsync",
    "GetSecret",
    "CreateWebStreamClient",
];

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    for name in NETWORK {
        let message = format!(
            "HttpService:{name} cannot reach the network: the local emulator makes no HTTP requests (run it with backend open-cloud)"
        );
        super::failing(r, "HttpService", name, message)?;
    }
    r.method("HttpService", "JSONEncode", |_, _, _, value: Value| {
        let mut encoder = Encoder {
            open: Vec::new(),
            text: String::new(),
        };
        encoder.value(&value, 0)?;
        Ok(encoder.text)
    })?;
    r.method(
        "HttpService",
        "JSONDecode",
        |lua, _, _, text: Option<LuaString>| {
            let text = text.ok_or_else(|| mlua::Error::runtime("Argument 1 missing or nil"))?;
            let parsed: serde_json::Value = serde_json::from_slice(&text.as_bytes())
                .map_err(|_| mlua::Error::runtime("Can't parse JSON"))?;
            to_lua(lua, &parsed)
        },
    )?;
    r.method(
        "HttpService",
        "GenerateGUID",
        |_, _, _, wrap: Option<bool>| guid(wrap.unwrap_or(true)),
    )?;
    r.method("HttpService", "UrlEncode", |_, _, _, text: LuaString| {
        Ok(url_encode(&text.as_bytes()))
    })
}

fn cannot_convert() -> mlua::Error {
    mlua::Error::runtime("Can't convert to JSON")
}

/// Writes Lua values as JSON text.
struct Encoder {
    /// Tables on the current path, by address: meeting one again is a cycle.
    open: Vec<usize>,
    text: String,
}

impl Encoder {
    fn value(&mut self, value: &Value, depth: usize) -> mlua::Result<()> {
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(mlua::Error::runtime(format!(
                "Can't convert to JSON: the text is over {} MiB",
                MAX_TEXT_BYTES / (1024 * 1024)
            )));
        }
        match value {
            Value::Nil => self.text.push_str("null"),
            Value::Boolean(b) => self.text.push_str(if *b { "true" } else { "false" }),
            Value::Integer(i) => self.text.push_str(&i.to_string()),
            Value::Number(n) => write_number(&mut self.text, *n),
            Value::String(s) => write_string(&mut self.text, &s.to_string_lossy()),
            Value::Table(table) if is_datatype(table) => self.text.push_str("null"),
            Value::Table(table) => return self.table(table, depth),
            // Instances and datatypes (userdata on Roblox; a Luau `vector`).
            Value::UserData(_) | Value::LightUserData(_) | Value::Vector(_) => {
                self.text.push_str("null");
            }
            _ => return Err(cannot_convert()),
        }
        Ok(())
    }

    fn table(&mut self, table: &Table, depth: usize) -> mlua::Result<()> {
        if depth >= MAX_DEPTH {
            return Err(cannot_convert());
        }
        let address = table.to_pointer() as usize;
        if self.open.contains(&address) {
            return Err(mlua::Error::runtime("tables cannot be cyclic"));
        }
        self.open.push(address);
        let written = self.open_table(table, depth);
        self.open.pop();
        written
    }

    fn open_table(&mut self, table: &Table, depth: usize) -> mlua::Result<()> {
        let length = table.raw_len();
        let mut pairs = 0;
        table.for_each::<Value, Value>(|_, _| {
            pairs += 1;
            Ok(())
        })?;
        if pairs == length {
            self.text.push('[');
            for i in 1..=length {
                if i > 1 {
                    self.text.push(',');
                }
                self.value(&table.raw_get::<Value>(i)?, depth + 1)?;
            }
            self.text.push(']');
            return Ok(());
        }
        let mut entries = Vec::with_capacity(pairs);
        table.for_each::<Value, Value>(|key, value| {
            let key = match key {
                Value::String(s) => s.to_string_lossy(),
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => {
                    let mut text = String::new();
                    write_number(&mut text, n);
                    text
                }
                _ => return Err(cannot_convert()),
            };
            entries.push((key, value));
            Ok(())
        })?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.text.push('{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            write_string(&mut self.text, key);
            self.text.push(':');
            self.value(value, depth + 1)?;
        }
        self.text.push('}');
        Ok(())
    }
}

/// Whether a table is one of the emulator's Roblox datatypes (`Vector3`, `CFrame`, …): its
/// metatable names its type. On Roblox they are userdata, which JSON has no text for.
fn is_datatype(table: &Table) -> bool {
    table
        .metatable()
        .is_some_and(|meta| matches!(meta.raw_get::<Value>("__type"), Ok(Value::String(_))))
}

/// Whole numbers as integers (`3`, not `3.0`); NaN and infinities as `null`.
fn write_number(out: &mut String, n: f64) {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        out.push_str(&(n as i64).to_string());
    } else {
        match serde_json::Number::from_f64(n) {
            Some(number) => out.push_str(&number.to_string()),
            None => out.push_str("null"),
        }
    }
}

/// A JSON string, escaped as the results writer escapes it (no cap: the encoder's caller has
/// its own memory limit).
fn write_string(out: &mut String, text: &str) {
    crate::emulator::json::write_string(out, text, usize::MAX);
}

/// A decoded JSON value as a Lua value (`null` is `nil`).
fn to_lua(lua: &Lua, value: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
        J::Object(entries) => {
            let table = lua.create_table_with_capacity(0, entries.len())?;
            for (key, item) in entries {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
    })
}

/// A random (version 4) GUID in upper case, in braces unless `wrap` is false, as Roblox
/// writes them: `{04AEBFEA-87FC-480F-A98B-E5E221007A90}`.
fn guid(wrap: bool) -> mlua::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| mlua::Error::runtime(format!("GenerateGUID: no randomness: {e}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    Ok(if wrap { format!("{{{guid}}}") } else { guid })
}

/// Percent-encodes every byte but the unreserved characters of RFC 3986.
fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_version_4_in_upper_case() {
        let wrapped = guid(true).unwrap();
        assert_eq!(wrapped.len(), 38);
        assert!(wrapped.starts_with('{') && wrapped.ends_with('}'));
        let bare = guid(false).unwrap();
        assert_eq!(bare.len(), 36);
        assert_eq!(&bare[14..15], "4");
        assert!(matches!(&bare[19..20], "8" | "9" | "A" | "B"));
        assert_eq!(bare, bare.to_uppercase());
        assert_ne!(guid(false).unwrap(), bare);
    }

    #[test]
    fn url_encoding_keeps_unreserved_characters_only() {
        assert_eq!(url_encode(b"a b&c=d/~_.-"), "a%20b%26c%3Dd%2F~_.-");
        assert_eq!(url_encode("é".as_bytes()), "%C3%A9");
    }

    #[test]
    fn numbers_are_written_as_json_has_them() {
        let text = |n| {
            let mut out = String::new();
            write_number(&mut out, n);
            out
        };
        assert_eq!(text(3.0), "3");
        assert_eq!(text(-0.5), "-0.5");
        assert_eq!(text(f64::NAN), "null");
        assert_eq!(text(f64::INFINITY), "null");
        assert_eq!(text(1e300), "1e+300");
    }
}
