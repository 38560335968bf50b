//! The XML format (`.rbxlx`), checked before rbx_xml decodes it. rbx_xml reads an instance
//! inside another by recursion, so nesting is bounded here ([`MAX_XML_DEPTH`] elements; the
//! decoder's stack is sized for it). The walk stops at a DOCTYPE, refusing it as rbx_xml does,
//! before the parser would expand its entities (a 3 KB file can hold 30 MB of them). Attribute
//! blobs (base64 inside the file) are checked as in binary places, and the instances counted
//! against [`MAX_INSTANCES`].
//!
//! Two parsers can walk the file; both feed one [`Walk`]:
//! - **quick-xml first**, which reads a file in a tenth of the time of the XML parser rbx_xml
//!   uses (that check was half of a suite's 2 MB place's load, before any test could start).
//!   It can only pass a file, and only one it reads whole as UTF-8 XML 1.0 without a
//!   complaint and finds nothing wrong in: on such a file every parser sees the same elements.
//!   Any doubt (a malformed file, another encoding, an entity inside an attribute blob, or
//!   anything to refuse) goes to
//! - **the parser rbx_xml uses**, configured as rbx_xml configures it, so both see the same
//!   elements; where that parser finds the file malformed the walk stops and leaves the
//!   message to rbx_xml. Its verdict, and its words, are the check's.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesDecl, BytesStart, Event};
use xml::reader::{ParserConfig, XmlEvent};

use super::{MAX_INSTANCES, MAX_XML_DEPTH, attributes};

const DOCTYPE_REFUSAL: &str = "it has a DOCTYPE, which Roblox never writes (and whose entities could expand it many times over)";

/// `Err` says, in one line, what in the file cannot be right.
pub(super) fn check(bytes: &[u8]) -> Result<(), String> {
    if passes_quickly(bytes) {
        Ok(())
    } else {
        check_thoroughly(bytes)
    }
}

/// What the walk has seen so far: how deep it is, how many instances, and the text of the
/// attributes property it is inside, if any.
#[derive(Default)]
struct Walk {
    depth: usize,
    items: u64,
    blob: Option<Blob>,
}

/// An attributes property being read: its depth, and its base64 text so far.
struct Blob {
    depth: usize,
    text: String,
}

impl Walk {
    fn start(&mut self, local_name: &[u8], holds_attributes: bool) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_XML_DEPTH {
            return Err(format!("its elements nest more than {MAX_XML_DEPTH} deep"));
        }
        if local_name == b"Item" {
            self.items += 1;
            if self.items > MAX_INSTANCES {
                return Err(format!(
                    "it has more than the {MAX_INSTANCES} instances a place may have"
                ));
            }
        }
        if self.blob.is_none() && holds_attributes {
            self.blob = Some(Blob {
                depth: self.depth,
                text: String::new(),
            });
        }
        Ok(())
    }

    fn in_blob(&self) -> bool {
        self.blob.is_some()
    }

    fn text(&mut self, text: &str) {
        if let Some(blob) = &mut self.blob {
            blob.text.push_str(text);
        }
    }

    fn end(&mut self) -> Result<(), String> {
        if self.blob.as_ref().is_some_and(|b| b.depth == self.depth)
            && let Some(done) = self.blob.take()
        {
            check_blob(&done.text)?;
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }
}

/// Whether quick-xml reads the whole file without a complaint and the walk finds nothing
/// wrong (see the module's header).
fn passes_quickly(bytes: &[u8]) -> bool {
    walk_quickly(bytes) == Some(Ok(()))
}

/// The walk with quick-xml: `None` where quick-xml cannot answer for rbx_xml's parser.
fn walk_quickly(bytes: &[u8]) -> Option<Result<(), String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    config.allow_unmatched_ends = false;
    let mut walk = Walk::default();
    loop {
        let step = match reader.read_event().ok()? {
            Event::DocType(_) => Err(DOCTYPE_REFUSAL.to_owned()),
            Event::Decl(declaration) if !declares_utf8_xml_1_0(&declaration)? => return None,
            Event::Start(element) => {
                let holds_attributes = holds_attributes_quickly(&element)?;
                walk.start(element.local_name().as_ref(), holds_attributes)
            }
            Event::Text(text) => {
                walk.text(std::str::from_utf8(&text).ok()?);
                Ok(())
            }
            Event::CData(text) => {
                walk.text(std::str::from_utf8(&text).ok()?);
                Ok(())
            }
            // An entity or character reference: only an attribute blob's text needs it
            // resolved, and Roblox writes blobs as plain base64.
            Event::GeneralRef(_) if walk.in_blob() => return None,
            Event::End(_) => walk.end(),
            Event::Eof => return Some(Ok(())),
            _ => Ok(()),
        };
        if step.is_err() {
            return Some(step);
        }
    }
}

/// Whether the element is a property that holds attributes; `None` for attributes quick-xml
/// finds malformed.
fn holds_attributes_quickly(element: &BytesStart) -> Option<bool> {
    for attribute in element.attributes() {
        let attribute = attribute.ok()?;
        if attribute.key.local_name().as_ref() == b"name"
            && attributes::is_attributes_property(
                &attribute.normalized_value(XmlVersion::Explicit1_0).ok()?,
            )
        {
            return Some(true);
        }
    }
    Some(false)
}

/// Whether an XML declaration says what quick-xml was read as: XML 1.0, in UTF-8 (or no
/// encoding); `None` where quick-xml finds it malformed.
fn declares_utf8_xml_1_0(declaration: &BytesDecl) -> Option<bool> {
    if declaration.version().ok()?.as_ref() != b"1.0" {
        return Some(false);
    }
    match declaration.encoding() {
        None => Some(true),
        Some(encoding) => Some(encoding.ok()?.eq_ignore_ascii_case(b"utf-8")),
    }
}

/// The check with the parser rbx_xml uses, for any file.
fn check_thoroughly(bytes: &[u8]) -> Result<(), String> {
    let events = ParserConfig::new()
        .ignore_comments(true)
        .create_reader(bytes);
    let mut walk = Walk::default();
    for event in events {
        let Ok(event) = event else {
            return Ok(());
        };
        match event {
            XmlEvent::Doctype { .. } => return Err(DOCTYPE_REFUSAL.to_owned()),
            XmlEvent::StartElement {
                name, attributes, ..
            } => {
                let holds_attributes = attributes.iter().any(|a| {
                    a.name.local_name == "name" && attributes::is_attributes_property(&a.value)
                });
                walk.start(name.local_name.as_bytes(), holds_attributes)?;
            }
            XmlEvent::Characters(text) | XmlEvent::CData(text) | XmlEvent::Whitespace(text) => {
                walk.text(&text);
            }
            XmlEvent::EndElement { .. } => walk.end()?,
            _ => {}
        }
    }
    Ok(())
}

/// An attributes property's text, decoded as rbx_xml decodes it (whitespace dropped, then
/// base64 by the same crate and version); text that is not base64 is rbx_xml's to refuse.
fn check_blob(text: &str) -> Result<(), String> {
    let packed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::decode(packed) {
        Ok(blob) => attributes::check(&blob),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small place: nested folders, a script with markup-like source in CDATA, an attribute
    /// blob, a comment and a declaration.
    fn place(blob: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><!-- a place --><roblox version="4">
<Item class="Folder" referent="RBX0"><Properties><string name="Name">A &amp; B</string>
<BinaryString name="AttributesSerialize">{blob}</BinaryString></Properties>
<Item class="ModuleScript" referent="RBX1"><Properties><string name="Name">M</string>
<ProtectedString name="Source"><![CDATA[return function() if 1 < 2 then print("<Item>") end end]]></ProtectedString>
</Properties></Item><Item class="Folder" referent="RBX2"/></Item></roblox>"#
        )
    }

    /// One NumberSequence attribute claiming 2^32 - 1 keypoints, base64.
    fn overclaiming_blob() -> String {
        let mut blob = 1u32.to_le_bytes().to_vec();
        blob.extend(3u32.to_le_bytes());
        blob.extend(b"seq");
        blob.push(0x17);
        blob.extend(u32::MAX.to_le_bytes());
        blob.extend([0; 12]);
        base64::encode(blob)
    }

    fn nested(depth: usize) -> String {
        let open = r#"<Item class="Folder" referent="D">"#.repeat(depth);
        format!(
            r#"<roblox version="4">{open}{}</roblox>"#,
            "</Item>".repeat(depth)
        )
    }

    #[test]
    fn quick_xml_passes_well_formed_places_and_leaves_refusals_to_the_thorough_check() {
        for file in [place(""), place("AAAAAA=="), nested(MAX_XML_DEPTH - 1)] {
            assert!(passes_quickly(file.as_bytes()), "{file}");
            assert_eq!(check_thoroughly(file.as_bytes()), Ok(()), "{file}");
        }
        let doctype = place("").replace("<roblox", "<!DOCTYPE roblox [<!ENTITY a \"b\">]><roblox");
        for (file, words) in [
            (nested(MAX_XML_DEPTH + 1), "nest more than"),
            (place(&overclaiming_blob()), "claims 4294967295 keypoints"),
            (doctype, "DOCTYPE"),
        ] {
            assert!(!passes_quickly(file.as_bytes()), "{file}");
            // The walk with quick-xml finds the same fault, and the check's words are the
            // thorough check's.
            let quick = walk_quickly(file.as_bytes());
            assert!(
                quick.is_some_and(|v| v.is_err_and(|e| e.contains(words))),
                "{file}"
            );
            let verdict = check(file.as_bytes());
            assert!(
                verdict.as_ref().is_err_and(|e| e.contains(words)),
                "{verdict:?}"
            );
            assert_eq!(verdict, check_thoroughly(file.as_bytes()));
        }
    }

    #[test]
    fn files_quick_xml_cannot_answer_for_go_to_the_thorough_check() {
        let too_deep = nested(MAX_XML_DEPTH + 1);
        let deep_enough = nested(MAX_XML_DEPTH - 1);
        for (file, refused) in [
            // UTF-16, which rbx_xml's parser reads and quick-xml (as built here) does not.
            (utf16_of(&too_deep), true),
            (utf16_of(&deep_enough), false),
            (
                with_declaration(r#"encoding="ISO-8859-1""#, &deep_enough),
                false,
            ),
            (with_declaration(r#"version="1.1""#, &deep_enough), false),
            (
                place(&format!("&#10;{}", overclaiming_blob())).into_bytes(),
                true,
            ),
            (
                deep_enough.replacen("</Item>", "</Folder>", 1).into_bytes(),
                false,
            ),
        ] {
            let shown = String::from_utf8_lossy(&file);
            assert_eq!(walk_quickly(&file), None, "{shown}");
            assert_eq!(check(&file), check_thoroughly(&file), "{shown}");
            assert_eq!(check(&file).is_err(), refused, "{shown}");
        }
    }

    fn utf16_of(text: &str) -> Vec<u8> {
        [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect()
    }

    fn with_declaration(attributes: &str, body: &str) -> Vec<u8> {
        let version = if attributes.contains("version") {
            ""
        } else {
            r#"version="1.0" "#
        };
        format!("<?xml {version}{attributes}?>{body}").into_bytes()
    }

    /// Thousands of damaged places: quick-xml never passes one the thorough check refuses.
    #[test]
    fn quick_xml_never_passes_a_damaged_place_the_thorough_check_refuses() {
        let bases = [
            place("AAAAAA==").into_bytes(),
            place(&overclaiming_blob()).into_bytes(),
            nested(MAX_XML_DEPTH - 2).into_bytes(),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound.max(1) as u64) as usize
        };
        let mut passed = 0;
        for round in 0..3_000 {
            let mut file = bases[round % bases.len()].clone();
            for _ in 0..=next(4) {
                let at = next(file.len());
                match next(4) {
                    0 => file.truncate(at),
                    1 if file.is_empty() => {}
                    1 => {
                        let last = file.len() - 1;
                        file[at.min(last)] ^= 1 << next(8);
                    }
                    2 => {
                        let pieces = [
                            &b"<Item>"[..],
                            b"</Item>",
                            b"<![CDATA[",
                            b"]]>",
                            b"&#",
                            b"\"",
                        ];
                        let piece = pieces[next(pieces.len())];
                        file.splice(at..at, piece.iter().copied());
                    }
                    _ => {
                        let end = (at + next(40)).min(file.len());
                        file.drain(at..end);
                    }
                }
            }
            if passes_quickly(&file) {
                passed += 1;
                let shown = String::from_utf8_lossy(&file);
                assert_eq!(check_thoroughly(&file), Ok(()), "{shown}");
            }
        }
        // Most damage leaves a file malformed; enough must pass for the comparison to count.
        assert!(passed > 100, "quick-xml passed {passed} files");
    }
}
