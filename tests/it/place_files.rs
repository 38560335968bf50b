//! Hostile place files: whatever a `.rbxl` or `.rbxlx` holds, the loader answers with a tree
//! or a one-line refusal, never an abort, a stack overflow or a hang. Files aimed at each bound
//! first, then a seeded mutation fuzzer over valid places written here (every compression, and
//! XML): thousands of cases through the loader in this process, hundreds as uploads to one
//! `serve`, a handful through the CLI.

use luau_exec::emulator::dom::{
    MAX_INFLATED_BYTES, MAX_INSTANCES, MAX_PROPERTY_VALUES, MAX_XML_DEPTH, PlaceError, load_place,
};
use rbx_binary::CompressionType;
use rbx_dom_weak::types::{
    Attributes, BrickColor, CFrame, Color3, ColorSequence, ColorSequenceKeypoint, Content,
    EnumItem, Font, Matrix3, NumberSequence, NumberSequenceKeypoint, Tags, Variant, Vector3,
};
use rbx_dom_weak::{InstanceBuilder, WeakDom};

use crate::support::{Expect, Outcome, Run, temp_file};

/// The 32-byte file of the report: a valid header whose class count is 2^32 - 1.
const HEADER_LIE: &[u8] =
    b"<roblox!\x89\xff\r\n\x1a\n\0\0\xff\xff\xff\xff\x03\0\0\0\0\0\0\0\0\0\0\0";

/// Where the header's counts sit, and where chunks start.
const CLASS_COUNT_AT: usize = 16;
const INSTANCE_COUNT_AT: usize = 20;
const FIRST_CHUNK_AT: usize = 32;

/// A place with a value of every kind whose encoding carries its own lengths or counts:
/// strings, attributes of every type (sequences, fonts, CFrames, enums…), tags, fonts,
/// number and color sequences, content, and some nesting.
fn sample_tree() -> WeakDom {
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    let storage = dom.insert(
        root,
        InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    let numbers = NumberSequence {
        keypoints: vec![
            NumberSequenceKeypoint::new(0.0, 1.0, 0.0),
            NumberSequenceKeypoint::new(1.0, 2.0, 0.0),
        ],
    };
    let colors = ColorSequence {
        keypoints: vec![
            ColorSequenceKeypoint::new(0.0, Color3::new(1.0, 0.0, 0.0)),
            ColorSequenceKeypoint::new(1.0, Color3::new(0.0, 0.0, 1.0)),
        ],
    };
    let attributes = Attributes::new()
        .with("text", Variant::String("hello".into()))
        .with("flag", true)
        .with("number", 4.5f64)
        .with("sizes", numbers.clone())
        .with("colors", colors.clone())
        .with(
            "font",
            Font::regular("rbxasset://fonts/families/Arial.json"),
        )
        .with(
            "cframe",
            CFrame::new(Vector3::new(1.0, 2.0, 3.0), Matrix3::identity()),
        )
        .with("brick", BrickColor::from_number(194).expect("a BrickColor"))
        .with(
            "material",
            EnumItem {
                ty: "Material".into(),
                value: 256,
            },
        );
    let mut tags = Tags::new();
    tags.push("tagged");
    let mut nested = InstanceBuilder::new("Folder").with_name("Level0");
    for level in (1..12).rev() {
        nested = InstanceBuilder::new("Folder")
            .with_name(format!("Level{level}"))
            .with_child(nested);
    }
    let children = vec![
        InstanceBuilder::new("ModuleScript")
            .with_name("Answer")
            .with_property("Source", "return 42"),
        InstanceBuilder::new("Part")
            .with_name("Part")
            .with_property("Attributes", attributes)
            .with_property("Tags", tags),
        InstanceBuilder::new("ParticleEmitter")
            .with_name("Emitter")
            .with_property("Size", numbers)
            .with_property("Color", colors)
            .with_property("TextureContent", Content::from_uri("rbxassetid://1")),
        InstanceBuilder::new("TextLabel")
            .with_name("Label")
            .with_property(
                "FontFace",
                Font::regular("rbxasset://fonts/families/Arial.json"),
            ),
        InstanceBuilder::new("ImageLabel")
            .with_name("Image")
            .with_property("ImageContent", Content::from_uri("rbxassetid://2")),
        nested,
    ];
    for child in children {
        dom.insert(storage, child);
    }
    dom
}

fn sample_rbxl(compression: CompressionType) -> Vec<u8> {
    let dom = sample_tree();
    let mut bytes = Vec::new();
    rbx_binary::Serializer::new()
        .compression_type(compression)
        .serialize(&mut bytes, &dom, dom.root().children())
        .expect("a binary place");
    bytes
}

fn sample_rbxlx() -> Vec<u8> {
    let dom = sample_tree();
    let mut bytes = Vec::new();
    rbx_xml::to_writer_default(&mut bytes, &dom, dom.root().children()).expect("an XML place");
    bytes
}

/// A binary place written chunk by chunk: the header with these counts, then each chunk
/// stored (uncompressed), then END.
fn handmade(classes: u32, instances: u32, chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut bytes = b"<roblox!\x89\xff\r\n\x1a\n\0\0".to_vec();
    bytes.extend(classes.to_le_bytes());
    bytes.extend(instances.to_le_bytes());
    bytes.extend([0; 8]);
    for (name, data) in chunks {
        bytes.extend(stored_chunk(name, data));
    }
    bytes.extend(stored_chunk(b"END\0", b"</roblox>"));
    bytes
}

fn stored_chunk(name: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = name.to_vec();
    chunk.extend(0u32.to_le_bytes());
    chunk.extend((data.len() as u32).to_le_bytes());
    chunk.extend(0u32.to_le_bytes());
    chunk.extend(data);
    chunk
}

fn lz4_chunk(name: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let packed = lz4_flex::block::compress(data);
    let mut chunk = name.to_vec();
    chunk.extend((packed.len() as u32).to_le_bytes());
    chunk.extend((data.len() as u32).to_le_bytes());
    chunk.extend(0u32.to_le_bytes());
    chunk.extend(packed);
    chunk
}

fn le_string(text: &str) -> Vec<u8> {
    let mut bytes = (text.len() as u32).to_le_bytes().to_vec();
    bytes.extend(text.as_bytes());
    bytes
}

/// An INST chunk of `count` instances of `class` with distinct referents (0, 1, 2…: stored as
/// interleaved big-endian deltas of 1, zigzag-encoded as 2).
fn inst_chunk(class: &str, count: u32) -> Vec<u8> {
    let mut data = 0u32.to_le_bytes().to_vec();
    data.extend(le_string(class));
    data.push(0);
    data.extend(count.to_le_bytes());
    let n = count as usize;
    data.extend(std::iter::repeat_n(0u8, 3 * n));
    data.extend(std::iter::repeat_n(2u8, n));
    data
}

/// A PROP chunk of class 0 with one string value per instance, each `value`.
fn string_prop_chunk(name: &str, values: &[&[u8]]) -> Vec<u8> {
    let mut data = 0u32.to_le_bytes().to_vec();
    data.extend(le_string(name));
    data.push(0x01);
    for value in values {
        data.extend((value.len() as u32).to_le_bytes());
        data.extend(*value);
    }
    data
}

/// An attribute blob with one NumberSequence attribute claiming 2^32 - 1 keypoints (48 GB of
/// them, once rbx_types reserves room) in a few bytes.
fn overclaiming_attributes() -> Vec<u8> {
    let mut blob = 1u32.to_le_bytes().to_vec();
    blob.extend(le_string("seq"));
    blob.push(0x17);
    blob.extend(u32::MAX.to_le_bytes());
    blob.extend([0; 12]);
    blob
}

fn refusal(bytes: &[u8]) -> String {
    match load_place(bytes) {
        Ok(_) => panic!("the place was accepted"),
        Err(error) => {
            let text = error.to_string();
            assert!(!text.contains('\n'), "one line: {text}");
            text
        }
    }
}

#[test]
fn valid_places_of_every_kind_still_load() {
    for compression in [
        CompressionType::Lz4,
        CompressionType::Zstd,
        CompressionType::None,
    ] {
        let tree = load_place(&sample_rbxl(compression)).expect("the binary place loads");
        assert_eq!(tree.descendants().count(), 19, "{compression:?}");
    }
    let tree = load_place(&sample_rbxlx()).expect("the XML place loads");
    assert_eq!(tree.descendants().count(), 19);
}

#[test]
fn header_counts_no_file_could_back_are_refused() {
    let text = refusal(HEADER_LIE);
    assert!(
        text.contains("binary place") && text.contains("claims 4294967295 classes"),
        "{text}"
    );
    // The same lie in a valid place, in either count.
    for at in [CLASS_COUNT_AT, INSTANCE_COUNT_AT] {
        let mut bytes = sample_rbxl(CompressionType::Lz4);
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let text = refusal(&bytes);
        assert!(text.contains("its header claims 4294967295"), "{text}");
    }
}

#[test]
fn a_compression_bomb_is_refused_before_it_inflates() {
    // Five LZ4 chunks of 64 MiB of zeros each (a 1 MiB file): within every per-chunk bound,
    // over the budget together. The old loader inflated all 320 MiB (chunks of an unknown name
    // are inflated, then skipped) and said yes.
    let zeros = vec![0u8; 64 << 20];
    let bomb = lz4_chunk(b"ZZZZ", &zeros);
    drop(zeros);
    let mut bytes = handmade(0, 0, &[]);
    let end = bytes.split_off(FIRST_CHUNK_AT);
    for _ in 0..5 {
        bytes.extend(&bomb);
    }
    bytes.extend(end);
    assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
    let text = refusal(&bytes);
    assert!(
        text.contains(&format!("more than the {} MiB", MAX_INFLATED_BYTES >> 20)),
        "{text}"
    );
    // A single chunk that claims 4 GiB is refused from its header alone.
    let mut lie = lz4_chunk(b"PROP", b"tiny");
    lie[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut bytes = handmade(0, 0, &[]);
    let end = bytes.split_off(FIRST_CHUNK_AT);
    bytes.extend(lie);
    bytes.extend(end);
    assert!(refusal(&bytes).contains("claims 4294967295 bytes"));
}

#[test]
fn counts_inside_chunks_must_fit_their_chunk() {
    let mut inst = inst_chunk("Folder", 1);
    let count_at = 4 + 4 + "Folder".len() + 1;
    inst[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let text = refusal(&handmade(1, 1, &[(b"INST", inst)]));
    assert!(
        text.contains("chunk INST at byte 32") && text.contains("claims 4294967295 instances"),
        "{text}"
    );

    let mut string = string_prop_chunk("Name", &[b"x"]);
    let length_at = string.len() - 5;
    string[length_at..length_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let text = refusal(&handmade(
        1,
        1,
        &[(b"INST", inst_chunk("Folder", 1)), (b"PROP", string)],
    ));
    assert!(text.contains("claims 4294967295 bytes"), "{text}");

    let mut meta = 1000u32.to_le_bytes().to_vec();
    meta.extend(le_string("key"));
    let text = refusal(&handmade(0, 0, &[(b"META", meta)]));
    assert!(text.contains("claims 1000 metadata entries"), "{text}");
}

#[test]
fn attribute_blobs_may_not_claim_more_than_they_hold() {
    // The old loader reserved 2^32 keypoints (48 GB) for this and aborted.
    let blob = overclaiming_attributes();
    let binary = handmade(
        1,
        1,
        &[
            (b"INST", inst_chunk("Folder", 1)),
            (b"PROP", string_prop_chunk("AttributesSerialize", &[&blob])),
        ],
    );
    let text = refusal(&binary);
    assert!(text.contains("claims 4294967295 keypoints"), "{text}");

    let encoded = base64::encode(&blob);
    let xml = format!(
        r#"<roblox version="4"><Item class="Folder" referent="RBX0"><Properties><string name="Name">F</string><BinaryString name="AttributesSerialize">{encoded}</BinaryString></Properties></Item></roblox>"#
    );
    let text = refusal(xml.as_bytes());
    assert!(
        text.contains("XML place") && text.contains("claims 4294967295 keypoints"),
        "{text}"
    );
}

#[test]
fn a_place_may_describe_only_so_many_instances_and_values() {
    // 600,000 instances in a 2.4 MB chunk (LZ4 would make it 10 KB).
    let too_many = (MAX_INSTANCES + 100_000) as u32;
    let text = refusal(&handmade(
        1,
        too_many,
        &[(b"INST", inst_chunk("Folder", too_many))],
    ));
    assert!(
        text.contains(&format!("more than the {MAX_INSTANCES} instances")),
        "{text}"
    );
    // 200,000 of the class with the most default properties (97): the decoder would reserve
    // room for 19 million values, over 1 GB, before reading one.
    let text = refusal(&handmade(
        1,
        200_000,
        &[(b"INST", inst_chunk("HumanoidRigDescription", 200_000))],
    ));
    assert!(
        text.contains(&format!("more than the {MAX_PROPERTY_VALUES}")),
        "{text}"
    );
}

#[test]
fn malformed_chunks_the_decoder_panics_on_are_refusals() {
    // A non-zero reserved field: rbx_binary panics on it.
    let mut bytes = sample_rbxl(CompressionType::Lz4);
    bytes[FIRST_CHUNK_AT + 12] = 1;
    assert!(refusal(&bytes).contains("reserved field is 1"));
    // A parent that does not exist: rbx_binary indexes its map with it and panics; the
    // decoder's panic is the refusal (and nothing is printed for it).
    let mut prnt = vec![0];
    prnt.extend(1u32.to_le_bytes());
    prnt.extend([0, 0, 0, 0, 0, 0, 0, 0x10]);
    let text = refusal(&handmade(
        1,
        1,
        &[(b"INST", inst_chunk("Folder", 1)), (b"PRNT", prnt)],
    ));
    assert!(
        text.contains("the decoder gave up on malformed data"),
        "{text}"
    );
}

fn nested_xml(depth: usize) -> Vec<u8> {
    let mut xml = String::from(r#"<roblox version="4">"#);
    for level in 0..depth {
        xml.push_str(&format!(
            r#"<Item class="Folder" referent="RBX{level}"><Properties><string name="Name">F</string></Properties>"#
        ));
    }
    xml.push_str(&"</Item>".repeat(depth));
    xml.push_str("</roblox>");
    xml.into_bytes()
}

#[test]
fn xml_nesting_is_bounded_and_the_bound_fits_the_stack() {
    // The deepest nesting allowed (an element of the root, Items, and Properties and a
    // property in the last) decodes, in an unoptimized build too.
    let deepest = MAX_XML_DEPTH - 3;
    let tree = load_place(&nested_xml(deepest)).expect("the deepest allowed place loads");
    assert_eq!(tree.descendants().count(), deepest + 1);
    let text = refusal(&nested_xml(MAX_XML_DEPTH));
    assert!(
        text.contains(&format!("nest more than {MAX_XML_DEPTH} deep")),
        "{text}"
    );
}

/// Entities nest ten deep and expand to a million characters each in the XML parser: this
/// 3 KB file is 30 MB of text. rbx_xml refuses any DOCTYPE; the check, which reads the file
/// first with the same parser, must stop at it too rather than expand it.
#[test]
fn a_doctype_is_refused_before_its_entities_expand() {
    let mut entities = String::from(r#"<!ENTITY e0 "0123456789">"#);
    for level in 1..5 {
        let previous = format!("&e{};", level - 1);
        entities.push_str(&format!(r#"<!ENTITY e{level} "{}">"#, previous.repeat(10)));
    }
    let name = "&e4;".repeat(300);
    let xml = format!(
        r#"<?xml version="1.0"?><!DOCTYPE roblox [{entities}]><roblox version="4"><Item class="Folder" referent="RBX0"><Properties><string name="Name">{name}</string></Properties></Item></roblox>"#
    );
    assert!(xml.len() < 3_000, "{} bytes", xml.len());
    let text = refusal(xml.as_bytes());
    assert!(text.contains("DOCTYPE"), "{text}");
}

#[test]
fn a_file_over_the_upload_limit_is_refused_unread() {
    let text = refusal(&vec![b'<'; 10 * 1024 * 1024 + 1]);
    assert!(text.contains("over the 10485760-byte limit"), "{text}");
    assert!(matches!(load_place(&[b' '; 16]), Err(PlaceError::Xml(_))));
}

// ---- The fuzzer ------------------------------------------------------------------------

/// splitmix64: a seeded, reproducible stream (a failing case is named by its seed and index).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    /// A count a file might lie with.
    fn count(&mut self, file_length: usize) -> u32 {
        const EDGES: &[u32] = &[
            0,
            1,
            2,
            3,
            4,
            16,
            255,
            256,
            65_535,
            65_536,
            1 << 20,
            1 << 24,
            1 << 28,
            (1 << 28) + 1,
            i32::MAX as u32,
            1 << 31,
            u32::MAX - 1,
            u32::MAX,
        ];
        match self.below(4) {
            0 => file_length as u32,
            1 => self.next() as u32,
            _ => EDGES[self.below(EDGES.len())],
        }
    }
}

/// Offsets of each chunk header of a binary place (stops where the layout stops making sense).
fn chunk_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = FIRST_CHUNK_AT;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        let field = |i: usize| {
            u32::from_le_bytes(bytes[at + i..at + i + 4].try_into().expect("4 bytes")) as usize
        };
        let stored = if field(4) == 0 { field(8) } else { field(4) };
        at += 16 + stored;
    }
    offsets
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if at + 4 <= bytes.len() {
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
}

/// One mutation of a valid binary place.
fn mutate_binary(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    let chunks = chunk_offsets(base);
    let length = bytes.len();
    match rng.below(8) {
        0 => bytes.truncate(rng.below(length)),
        1 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(length);
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let at = [CLASS_COUNT_AT, INSTANCE_COUNT_AT][rng.below(2)];
            let value = rng.count(length);
            put_u32(&mut bytes, at, value);
        }
        3 => {
            // A chunk header's compressed length, length or reserved field.
            let at = chunks[rng.below(chunks.len())] + 4 * (1 + rng.below(3));
            let value = rng.count(length);
            put_u32(&mut bytes, at, value);
        }
        4 => {
            // A count anywhere (in stored chunks: instance counts, string lengths…).
            let at = rng.below(length);
            let value = rng.count(length);
            put_u32(&mut bytes, at, value);
        }
        5 => {
            // A chunk dropped, or repeated.
            let which = rng.below(chunks.len());
            let start = chunks[which];
            let end = chunks.get(which + 1).copied().unwrap_or(length);
            let chunk = bytes[start..end].to_vec();
            if rng.below(2) == 0 {
                bytes.drain(start..end);
            } else {
                bytes.splice(start..start, chunk);
            }
        }
        6 => {
            // Bytes of the file copied over another place in it.
            let from = rng.below(length);
            let to = rng.below(length);
            let span = rng.below(64).min(length - from).min(length - to);
            let copied = bytes[from..from + span].to_vec();
            bytes[to..to + span].copy_from_slice(&copied);
        }
        _ => {
            // Random bytes appended, or a tail of random bytes.
            let cut = rng.below(length);
            bytes.truncate(cut);
            for _ in 0..rng.below(256) {
                bytes.push(rng.next() as u8);
            }
        }
    }
    bytes
}

/// One mutation of a valid XML place.
fn mutate_xml(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    let length = bytes.len();
    match rng.below(5) {
        0 => bytes.truncate(rng.below(length)),
        1 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(length);
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        2 => {
            // Deep nesting spliced in after the root element's start.
            let depth = [10, MAX_XML_DEPTH - 3, MAX_XML_DEPTH + 1, 30_000][rng.below(4)];
            let at = find(&bytes, b"<Item").unwrap_or(0);
            let open = r#"<Item class="Folder" referent="D">"#.repeat(depth);
            let close = "</Item>".repeat(depth);
            bytes.splice(at..at, [open.as_bytes(), close.as_bytes()].concat());
        }
        3 => {
            // A number in the text replaced by an edge value.
            let at = rng.below(length);
            let value = rng.count(length).to_string();
            let end = (at + value.len()).min(length);
            bytes.splice(at..end, value.into_bytes());
        }
        _ => {
            // An attribute blob replaced by an overclaiming one, or by random bytes.
            let blob = if rng.below(2) == 0 {
                overclaiming_attributes()
            } else {
                (0..rng.below(64)).map(|_| rng.next() as u8).collect()
            };
            let marker = b"name=\"AttributesSerialize\">";
            if let Some(at) = find(&bytes, marker) {
                let start = at + marker.len();
                let end = start + find(&bytes[start..], b"<").unwrap_or(0);
                let encoded = base64::encode(blob);
                bytes.splice(start..end, encoded.into_bytes());
            }
        }
    }
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bases the fuzzer mutates: the sample place in each compression, and in XML.
fn bases() -> Vec<(Vec<u8>, bool)> {
    vec![
        (sample_rbxl(CompressionType::Lz4), true),
        (sample_rbxl(CompressionType::Zstd), true),
        (sample_rbxl(CompressionType::None), true),
        (sample_rbxlx(), false),
    ]
}

/// Case `index` of the fuzz stream seeded with `seed`, and its file name.
fn case(bases: &[(Vec<u8>, bool)], seed: u64, index: u64) -> (Vec<u8>, &'static str) {
    let mut rng = Rng(seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (base, binary) = &bases[rng.below(bases.len())];
    if *binary {
        (mutate_binary(&mut rng, base), "fuzzed.rbxl")
    } else {
        (mutate_xml(&mut rng, base), "fuzzed.rbxlx")
    }
}

#[test]
fn the_loader_survives_thousands_of_mutated_places() {
    let bases = bases();
    let mut refused = 0;
    let cases = 3_000;
    for index in 0..cases {
        let (bytes, _) = case(&bases, 0x5eed_0001, index);
        match load_place(&bytes) {
            Ok(_) => {}
            Err(error) => {
                assert!(error.is_the_files_fault(), "case {index}: {error}");
                let text = error.to_string();
                assert!(!text.contains('\n'), "case {index}: {text}");
                refused += 1;
            }
        }
    }
    // The mutations reach the checks: most cases are refusals, some still load.
    assert!(refused > cases / 2 && refused < cases, "{refused} refused");
}

#[tokio::test]
async fn serve_answers_every_mutated_upload_and_stays_up() {
    let served = crate::emulator::serve_with_args(&[], &[]).await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/universes/v1/1/places/2/versions?versionType=Saved",
        served.url
    );
    let bases = bases();
    let mut statuses = std::collections::BTreeMap::new();
    for index in 0..300 {
        let (bytes, _) = case(&bases, 0x5eed_0002, index);
        let response = client
            .post(&url)
            .header("x-api-key", "any")
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|error| panic!("upload {index} got no answer: {error}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status == 200 || (status == 400 && body.contains("Invalid file content")),
            "upload {index}: {status} {body}"
        );
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert!(statuses.len() == 2, "both answers occur: {statuses:?}");
    let (status, _) = crate::emulator::get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(status, 200, "the server is still up");
}

#[tokio::test]
async fn the_cli_refuses_a_bad_place_by_name_and_never_crashes() {
    let (_dir, path) = temp_file("lie.rbxl", HEADER_LIE);
    let output = local_run(&path).await;
    output.code(Outcome::Rejected);
    let all = format!("{}{}", output.stdout, output.stderr);
    let problem = all
        .lines()
        .find(|line| line.contains("claims 4294967295 classes"))
        .unwrap_or_else(|| panic!("the refusal: {all}"));
    assert!(
        problem.contains("place file `") && problem.contains("lie.rbxl`"),
        "{problem}"
    );
    assert!(!all.contains("panicked"), "{all}");

    let bases = bases();
    for index in 0..8 {
        let (bytes, name) = case(&bases, 0x5eed_0003, index);
        let (_dir, path) = temp_file(name, &bytes);
        let output = local_run(&path).await;
        let all = format!("{}{}", output.stdout, output.stderr);
        match output.code {
            0 => {}
            7 => assert!(
                all.contains(&format!("place file `{}`", path.display())),
                "{all}"
            ),
            other => panic!("case {index} exited {other}: {all}"),
        }
    }
}

/// The file of the report: 3,000 levels overflowed the upload handler's stack.
#[tokio::test]
async fn a_3000_deep_xml_place_is_refused_not_a_crash() {
    let (_dir, path) = temp_file("deep.rbxlx", &nested_xml(3_000));
    let output = local_run(&path).await;
    output.code(Outcome::Rejected);
    assert!(
        output.stdout.contains(&format!(
            "place file `{}`: the local emulator rejected",
            path.display()
        )) && output
            .stdout
            .contains(&format!("nest more than {MAX_XML_DEPTH} deep")),
        "{}",
        output.stdout
    );
}

async fn local_run(path: &std::path::Path) -> Expect {
    Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", path.to_str().expect("a UTF-8 path"))
        .env("INPUT_SCRIPT", "return 1")
        .expect()
        .await
}
