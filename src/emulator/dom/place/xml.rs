//! The XML format (`.rbxlx`), checked before rbx_xml decodes it. rbx_xml reads an instance
//! inside another by recursion, so nesting is bounded here ([`MAX_XML_DEPTH`] elements; the
//! decoder's stack is sized for it). The walk stops at a DOCTYPE, refusing it as rbx_xml does,
//! before the parser would expand its entities (a 3 KB file can hold 30 MB of them). Attribute
//! blobs (base64 inside the file) are checked as in binary places, and the instances counted
//! against [`MAX_INSTANCES`].
//!
//! The walk uses the XML parser rbx_xml uses, configured as rbx_xml configures it, so both see
//! the same elements; where the parser finds the file malformed the walk stops and leaves the
//! message to rbx_xml.

use xml::reader::{ParserConfig, XmlEvent};

use super::{MAX_INSTANCES, MAX_XML_DEPTH, attributes};

/// An attributes property being read: its depth, and its base64 text so far.
struct Blob {
    depth: usize,
    text: String,
}

/// `Err` says, in one line, what in the file cannot be right.
pub(super) fn check(bytes: &[u8]) -> Result<(), String> {
    let events = ParserConfig::new()
        .ignore_comments(true)
        .create_reader(bytes);
    let mut depth = 0usize;
    let mut items = 0u64;
    let mut blob: Option<Blob> = None;
    for event in events {
        let Ok(event) = event else {
            return Ok(());
        };
        match event {
            XmlEvent::Doctype { .. } => {
                return Err(
                    "it has a DOCTYPE, which Roblox never writes (and whose entities could expand it many times over)"
                        .into(),
                );
            }
            XmlEvent::StartElement {
                name, attributes, ..
            } => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(format!("its elements nest more than {MAX_XML_DEPTH} deep"));
                }
                if name.local_name == "Item" {
                    items += 1;
                    if items > MAX_INSTANCES {
                        return Err(format!(
                            "it has more than the {MAX_INSTANCES} instances a place may have"
                        ));
                    }
                }
                let holds_attributes = attributes.iter().any(|a| {
                    a.name.local_name == "name" && attributes::is_attributes_property(&a.value)
                });
                if blob.is_none() && holds_attributes {
                    blob = Some(Blob {
                        depth,
                        text: String::new(),
                    });
                }
            }
            XmlEvent::Characters(text) | XmlEvent::CData(text) | XmlEvent::Whitespace(text) => {
                if let Some(blob) = &mut blob {
                    blob.text.push_str(&text);
                }
            }
            XmlEvent::EndElement { .. } => {
                if blob.as_ref().is_some_and(|b| b.depth == depth)
                    && let Some(done) = blob.take()
                {
                    check_blob(&done.text)?;
                }
                depth = depth.saturating_sub(1);
            }
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
