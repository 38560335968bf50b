//! The emulator's datatypes answer as Roblox's do: `Enum` and its items, `DateTime`,
//! `BrickColor`, the sequences and ranges, `Rect`, `Region3`, `Ray`, `TweenInfo` and `Font`,
//! with Roblox's values, `typeof`, `tostring`, `==` and messages; and properties of these types
//! in a place file read and set through instances. Every script runs in the real binary on the
//! local backend.

use rbx_dom_weak::InstanceBuilder;
use rbx_dom_weak::types::{
    Attributes, BrickColor, Color3, ColorSequence, ColorSequenceKeypoint, Enum, EnumItem, Font,
    FontStyle, FontWeight, NumberRange, NumberSequence, NumberSequenceKeypoint, Ray, Rect, Variant,
    Vector2, Vector3,
};
use serde_json::{Value, json};

use crate::places::place;
use crate::support::{Outcome, Run, temp_file};

/// Runs `script` on the local backend in `place_bytes`; its first result.
async fn run(place_bytes: &[u8], script: &str) -> Value {
    let (_dir, path) = temp_file("game.rbxl", place_bytes);
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", path.to_str().unwrap())
        .env("INPUT_SCRIPT", script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    output.code(Outcome::Complete);
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    result["results"][0].clone()
}

async fn run_empty(script: &str) -> Value {
    run(&place(Vec::new()), script).await
}

/// The message of a failing call, as `pcall` gives it.
const FAILS: &str = r#"
local function fails(f, ...)
	local ok, message = pcall(f, ...)
	assert(not ok, "expected an error")
	return message
end
"#;

#[tokio::test]
async fn enums_index_compare_and_list_as_on_roblox() {
    let script = format!(
        "{FAILS}{}",
        r#"
local order = Enum.SortOrder
local name = order.Name
return {
	typeof(name), tostring(name), name.Name, name.Value, name.EnumType == order,
	typeof(order), tostring(order), typeof(Enum), tostring(Enum),
	rawequal(order.LayoutOrder, Enum.SortOrder.LayoutOrder), order:FromName("Custom") == order.Custom,
	order:FromValue(2) == order.LayoutOrder, order:FromName("Nope") == nil, order:FromValue(99) == nil,
	#order:GetEnumItems(), order:GetEnumItems()[1] == order.Name, name:IsA("SortOrder"), name:IsA("Material"),
	#Enum:GetEnums() > 100, Enum:GetEnums()[1] ~= nil,
	fails(function() return order.Nope end),
	fails(function() return Enum.Nope end),
	fails(function() return name.Nope end),
	fails(function() order.Custom = 1 end),
	fails(function() name.Value = 3 end) ~= nil,
	Enum.Material.Plastic.EnumType == Enum.Material, Enum.SortOrder.Name ~= Enum.SortOrder.Custom,
}
"#
    );
    let r = run_empty(&script).await;
    assert_eq!(
        r,
        json!([
            "EnumItem",
            "Enum.SortOrder.Name",
            "Name",
            0,
            true,
            "Enum",
            "SortOrder",
            "Enums",
            "Enums",
            true,
            true,
            true,
            true,
            true,
            3,
            true,
            true,
            false,
            true,
            true,
            "TaskScript:17: Nope is not a valid member of \"Enum.SortOrder\"",
            "TaskScript:18: Nope is not a valid EnumItem",
            "TaskScript:19: Nope is not a valid member of \"Enum.SortOrder.Name\"",
            "TaskScript:20: Custom cannot be assigned to",
            true,
            true,
            true,
        ])
    );
}

#[tokio::test]
async fn date_time_converts_formats_and_parses_in_utc() {
    let script = format!(
        "{FAILS}{}",
        r#"
local t = DateTime.fromUniversalTime(2020, 1, 2, 10, 30, 45, 120)
local u = t:ToUniversalTime()
local before = os.time()
local now = DateTime.now()
return {
	typeof(t), t.UnixTimestamp, t.UnixTimestampMillis, tostring(t), t:ToIsoDate(),
	{ u.Year, u.Month, u.Day, u.Hour, u.Minute, u.Second, u.Millisecond },
	t:ToLocalTime().Hour,
	DateTime.fromUnixTimestamp(0):ToIsoDate(),
	DateTime.fromUnixTimestampMillis(-1):ToIsoDate(),
	DateTime.fromIsoDate("2020-01-02T10:30:45Z").UnixTimestamp,
	DateTime.fromIsoDate("2020-01-02T10:30:45.120Z") == t,
	DateTime.fromIsoDate("2020-01-02T12:30:45+02:00").UnixTimestamp,
	DateTime.fromIsoDate("not a date") == nil, DateTime.fromIsoDate("2021-02-29T00:00:00Z") == nil,
	DateTime.fromUniversalTime(2020, 1, 1, 25, 90).UnixTimestamp - DateTime.fromUniversalTime(2020, 1, 2).UnixTimestamp,
	DateTime.fromUniversalTime(2024, 2, 29):ToIsoDate(),
	DateTime.fromLocalTime(1999, 12, 31, 23, 59, 59).UnixTimestamp,
	t:FormatUniversalTime("LL", "en-us"), t:FormatLocalTime("dddd HH:mm:ss.SSS A", "en-us"),
	t:FormatUniversalTime("YYYY-MM-DD LT [at] h", "en-us"),
	math.abs(now.UnixTimestamp - before) <= 2, DateTime.fromUnixTimestamp(5) < DateTime.fromUnixTimestamp(6),
	fails(function() return t.Nope end),
	fails(DateTime.fromUniversalTime, 2021, 2, 29),
	fails(DateTime.fromUnixTimestamp, "x"),
	fails(function() return DateTime.fromUniversalTime(2020, 13) end),
	fails(function() return DateTime.fromLocalTime(2020, "x") end),
	fails(function() return DateTime.fromUnixTimestampMillis(math.huge) end),
	DateTime.fromUniversalTime("2020", "1", "2").UnixTimestamp, tostring(NumberRange.new("1", 2)),
	tostring(Rect.new("1", 2, 3, "4")), TweenInfo.new("2").Time,
}
"#
    );
    let r = run_empty(&script).await;
    assert_eq!(
        r,
        json!([
            "DateTime",
            1_577_961_045,
            1_577_961_045_120u64,
            "1577961045120",
            "2020-01-02T10:30:45.120Z",
            [2020, 1, 2, 10, 30, 45, 120],
            10,
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            1_577_961_045,
            true,
            1_577_961_045,
            true,
            true,
            9000,
            "2024-02-29T00:00:00Z",
            946_684_799,
            "January 2, 2020",
            "Thursday 10:30:45.120 AM",
            "2020-01-02 10:30 AM at 10",
            true,
            true,
            "TaskScript:28: Nope is not a valid member of DateTime",
            "fromUniversalTime: 2021-2-29 is not a valid date",
            "invalid argument #1 to 'fromUnixTimestamp' (number expected, got string)",
            "TaskScript:31: fromUniversalTime: 2020-13-1 is not a valid date",
            "TaskScript:32: invalid argument #2 to 'fromLocalTime' (number expected, got string)",
            "TaskScript:33: fromUnixTimestampMillis: the time is out of range (years 1400 to 9999)",
            1_577_923_200,
            "1 2 ",
            "1, 2, 3, 4",
            2,
        ])
    );
}

#[tokio::test]
async fn brick_colors_come_by_number_name_colour_and_palette() {
    let script = r#"
local red = BrickColor.new("Bright red")
local seen, count = {}, 0
for i = 0, 127 do
	local color = BrickColor.palette(i)
	if not seen[color.Number] then
		seen[color.Number] = true
		count += 1
	end
end
return {
	typeof(red), tostring(red), red.Number, red.Name, red.Color == Color3.fromRGB(196, 40, 28),
	math.floor(red.r * 255 + 0.5), red == BrickColor.new(21), red == BrickColor.Red(),
	BrickColor.new(Color3.fromRGB(197, 41, 27)).Name, BrickColor.new(0.77, 0.16, 0.11).Number,
	BrickColor.new("No such colour").Name, BrickColor.new(9999).Name, BrickColor.Gray().Name,
	BrickColor.new("Lilac").Number, BrickColor.palette(0).Name, BrickColor.palette(127).Name, count,
	typeof(BrickColor.random()), BrickColor.White().Number, BrickColor.Blue().Name,
	select(2, pcall(BrickColor.palette, 128)),
}
"#;
    let r = run_empty(script).await;
    assert_eq!(
        r,
        json!([
            "BrickColor",
            "Bright red",
            21,
            "Bright red",
            true,
            196,
            true,
            true,
            "Bright red",
            21,
            "Medium stone grey",
            "Medium stone grey",
            "Medium stone grey",
            219,
            "Earth green",
            "Really black",
            128,
            "BrickColor",
            1,
            "Bright blue",
            "palette index out of bounds (128)",
        ])
    );
}

#[tokio::test]
async fn ranges_and_sequences_validate_and_print_as_roblox_does() {
    let script = format!(
        "{FAILS}{}",
        r#"
local K = NumberSequenceKeypoint.new
local sequence = NumberSequence.new({ K(0, 1), K(0.5, 2, 0.25), K(1, 3) })
local copy = sequence.Keypoints
copy[1] = nil
local colors = ColorSequence.new(Color3.new(1, 0, 0), Color3.new(0, 0, 1))
return {
	typeof(NumberRange.new(1)), tostring(NumberRange.new(1, 2.5)), NumberRange.new(4).Max,
	NumberRange.new(1, 2) == NumberRange.new(1, 2), NumberRange.new(1, 2) == NumberRange.new(1, 3),
	fails(NumberRange.new, 2, 1),
	typeof(sequence), tostring(sequence), #sequence.Keypoints, sequence.Keypoints[2].Envelope,
	typeof(sequence.Keypoints[1]), tostring(NumberSequence.new(2)), tostring(NumberSequence.new(1, 0)),
	sequence == NumberSequence.new({ K(0, 1), K(0.5, 2, 0.25), K(1, 3) }), sequence == NumberSequence.new(1),
	fails(NumberSequence.new, { K(0, 1) }),
	fails(NumberSequence.new, { K(0.1, 1), K(1, 1) }),
	fails(NumberSequence.new, { K(0, 1), K(0.9, 1) }),
	fails(NumberSequence.new, { K(0, 1), K(0.6, 1), K(0.4, 1), K(1, 1) }),
	fails(function() return sequence.Nope end),
	typeof(colors), tostring(colors), colors.Keypoints[2].Value == Color3.new(0, 0, 1),
	typeof(colors.Keypoints[1]), tostring(ColorSequence.new(Color3.new(0, 1, 0))),
	fails(ColorSequence.new, { ColorSequenceKeypoint.new(0, Color3.new()) }),
	fails(ColorSequence.new, { ColorSequenceKeypoint.new(0, Color3.new()), ColorSequenceKeypoint.new(0.5, Color3.new()) }),
}
"#
    );
    let r = run_empty(&script).await;
    assert_eq!(
        r,
        json!([
            "NumberRange",
            "1 2.5 ",
            4,
            true,
            false,
            "NumberRange: invalid range",
            "NumberSequence",
            "0 1 0 0.5 2 0.25 1 3 0 ",
            3,
            0.25,
            "NumberSequenceKeypoint",
            "0 2 0 1 2 0 ",
            "0 1 0 1 0 0 ",
            true,
            false,
            "NumberSequence: requires at least 2 keypoints",
            "NumberSequence must start at time=0.0",
            "NumberSequence must end at time=1.0",
            "NumberSequence: all keypoints must be ordered by time",
            "TaskScript:24: Nope is not a valid member of NumberSequence",
            "ColorSequence",
            "0 1 0 0 0 1 0 0 1 0 ",
            true,
            "ColorSequenceKeypoint",
            "0 0 1 0 0 1 0 1 0 0 ",
            "ColorSequence: requires at least 2 keypoints",
            "ColorSequence must end at time=1.0",
        ])
    );
}

#[tokio::test]
async fn geometry_and_tween_datatypes_answer_as_on_roblox() {
    let script = format!(
        "{FAILS}{}",
        r#"
local rect = Rect.new(1, 2, 4, 8)
local region = Region3.new(Vector3.new(0, 0, 0), Vector3.new(2, 4, 6))
local ray = Ray.new(Vector3.new(0, 0, 0), Vector3.new(0, 0, -10))
local tween = TweenInfo.new(2, Enum.EasingStyle.Linear, Enum.EasingDirection.In, 1, true, 0.5)
local font = Font.new("rbxasset://fonts/families/GothamSSm.json", Enum.FontWeight.Bold)
return {
	typeof(rect), tostring(rect), rect.Width, rect.Height, rect.Min == Vector2.new(1, 2),
	rect == Rect.new(Vector2.new(1, 2), Vector2.new(4, 8)), Rect.new().Width,
	typeof(region), tostring(region), region.CFrame.Position == Vector3.new(1, 2, 3), tostring(region.Size),
	tostring(Region3.new(Vector3.new(0.5, 0, 0), Vector3.new(3, 3, 3)):ExpandToGrid(4).Size),
	typeof(ray), tostring(ray), ray.Unit.Direction == Vector3.new(0, 0, -1),
	tostring(ray:ClosestPoint(Vector3.new(3, 0, -4))), ray:Distance(Vector3.new(3, 0, -4)),
	tostring(ray:ClosestPoint(Vector3.new(0, 0, 5))), ray == Ray.new(Vector3.new(), Vector3.new(0, 0, -10)),
	typeof(tween), tostring(tween), tostring(TweenInfo.new()), tween.EasingStyle == Enum.EasingStyle.Linear,
	tween == TweenInfo.new(2, Enum.EasingStyle.Linear, Enum.EasingDirection.In, 1, true, 0.5),
	TweenInfo.new(1, "Sine").EasingStyle == Enum.EasingStyle.Sine,
	typeof(font), font.Family, font.Weight == Enum.FontWeight.Bold, font.Bold, font.Style == Enum.FontStyle.Normal,
	Font.fromEnum(Enum.Font.SourceSansBold).Family, Font.fromEnum(Enum.Font.SourceSansBold).Bold,
	Font.fromName("Roboto").Family, Font.fromId(12187365364).Family,
	fails(function() return rect.Nope end),
	fails(TweenInfo.new, 1, Enum.Material.Plastic),
	fails(function() rect.Width = 3 end) ~= nil,
}
"#
    );
    let r = run_empty(&script).await;
    assert_eq!(
        r,
        json!([
            "Rect",
            "1, 2, 4, 8",
            3,
            6,
            true,
            true,
            0,
            "Region3",
            "1, 2, 3, 1, 0, 0, 0, 1, 0, 0, 0, 1; 2, 4, 6",
            true,
            "2, 4, 6",
            "4, 4, 4",
            "Ray",
            "{0, 0, 0}, {0, 0, -10}",
            true,
            "0, 0, -4",
            3,
            "0, 0, 0",
            true,
            "TweenInfo",
            "Time:2 DelayTime:0.5 RepeatCount:1 Reverses:True EasingDirection:In EasingStyle:Linear",
            "Time:1 DelayTime:0 RepeatCount:0 Reverses:False EasingDirection:Out EasingStyle:Quad",
            true,
            true,
            true,
            "Font",
            "rbxasset://fonts/families/GothamSSm.json",
            true,
            true,
            true,
            "rbxasset://fonts/families/SourceSansPro.json",
            true,
            "rbxasset://fonts/families/Roboto.json",
            "rbxassetid://12187365364",
            "TaskScript:27: Nope is not a valid member of Rect",
            "invalid argument #2 to 'new' (EasingStyle expected, got EnumItem)",
            true,
        ])
    );
}

/// A place whose instances hold a property of each datatype, and attributes of each type
/// Roblox attributes take.
fn typed_place() -> Vec<u8> {
    let numbers = NumberSequence {
        keypoints: vec![
            NumberSequenceKeypoint::new(0.0, 1.0, 0.0),
            NumberSequenceKeypoint::new(1.0, 0.5, 0.25),
        ],
    };
    let colors = ColorSequence {
        keypoints: vec![
            ColorSequenceKeypoint::new(0.0, Color3::new(1.0, 0.0, 0.0)),
            ColorSequenceKeypoint::new(1.0, Color3::new(0.0, 0.0, 1.0)),
        ],
    };
    let emitter = InstanceBuilder::new("ParticleEmitter")
        .with_name("Sparks")
        .with_property("Size", numbers.clone())
        .with_property("Color", colors.clone())
        .with_property("Lifetime", NumberRange::new(2.0, 4.0));
    let label = InstanceBuilder::new("TextLabel")
        .with_name("Label")
        .with_property(
            "FontFace",
            Font::new(
                "rbxasset://fonts/families/Arial.json",
                FontWeight::Bold,
                FontStyle::Italic,
            ),
        );
    let image = InstanceBuilder::new("ImageLabel")
        .with_name("Image")
        .with_property(
            "SliceCenter",
            Rect::new(Vector2::new(1.0, 2.0), Vector2::new(3.0, 4.0)),
        )
        .with_property("ScaleType", Variant::Enum(Enum::from_u32(1)));
    let team = InstanceBuilder::new("Team")
        .with_name("Red")
        .with_property("TeamColor", BrickColor::BrightRed);
    let ray = InstanceBuilder::new("RayValue")
        .with_name("Aim")
        .with_property(
            "Value",
            Ray::new(Vector3::new(1.0, 2.0, 3.0), Vector3::new(0.0, 0.0, -1.0)),
        );
    let attributes = Attributes::new()
        .with("range", NumberRange::new(1.0, 2.0))
        .with("sizes", numbers)
        .with("colors", colors)
        .with(
            "slice",
            Rect::new(Vector2::new(0.0, 0.0), Vector2::new(8.0, 8.0)),
        )
        .with("brick", BrickColor::ReallyRed)
        .with(
            "order",
            EnumItem {
                ty: "SortOrder".into(),
                value: 2,
            },
        );
    let folder = InstanceBuilder::new("Folder")
        .with_name("Data")
        .with_property("Attributes", attributes);
    place(vec![emitter, label, image, team, ray, folder])
}

#[tokio::test]
async fn properties_of_each_datatype_read_and_set_through_instances() {
    let script = r#"
local rs = game:GetService("ReplicatedStorage")
local sparks, label, image, team, aim, data = rs.Sparks, rs.Label, rs.Image, rs.Red, rs.Aim, rs.Data
local read = {
	tostring(sparks.Size), tostring(sparks.Color), tostring(sparks.Lifetime),
	tostring(label.FontFace), tostring(image.ScaleType), tostring(image.SliceCenter),
	tostring(team.TeamColor), tostring(aim.Value),
	tostring(data:GetAttribute("range")), tostring(data:GetAttribute("sizes")), tostring(data:GetAttribute("colors")),
	tostring(data:GetAttribute("slice")), tostring(data:GetAttribute("brick")), tostring(data:GetAttribute("order")),
	typeof(sparks.Size), typeof(label.FontFace), typeof(team.TeamColor), typeof(aim.Value),
}
sparks.Size = NumberSequence.new(3)
sparks.Color = ColorSequence.new(Color3.new(0, 1, 0))
sparks.Lifetime = NumberRange.new(5)
label.FontFace = Font.fromName("Roboto", Enum.FontWeight.Light)
image.SliceCenter = Rect.new(0, 0, 16, 16)
team.TeamColor = BrickColor.new("Lime green")
aim.Value = Ray.new(Vector3.new(), Vector3.new(1, 0, 0))
data:SetAttribute("range", NumberRange.new(7, 9))
data:SetAttribute("brick", BrickColor.Blue())
data:SetAttribute("order", Enum.SortOrder.Name)
data:SetAttribute("font", Font.fromEnum(Enum.Font.Gotham))
local ok, message = pcall(function() sparks.Lifetime = 3 end)
local written = {
	tostring(sparks.Size), tostring(sparks.Color), tostring(sparks.Lifetime), tostring(label.FontFace),
	tostring(image.SliceCenter), tostring(team.TeamColor), tostring(aim.Value),
	tostring(data:GetAttribute("range")), tostring(data:GetAttribute("brick")),
	data:GetAttribute("order") == Enum.SortOrder.Name, tostring(data:GetAttribute("font")),
	message,
}
return { read, written }
"#;
    let r = run(&typed_place(), script).await;
    assert_eq!(
        r[0],
        json!([
            "0 1 0 1 0.5 0.25 ",
            "0 1 0 0 0 1 0 0 1 0 ",
            "2 4 ",
            "Font { Family = rbxasset://fonts/families/Arial.json, Weight = Bold, Style = Italic }",
            "Enum.ScaleType.Slice",
            "1, 2, 3, 4",
            "Bright red",
            "{1, 2, 3}, {0, 0, -1}",
            "1 2 ",
            "0 1 0 1 0.5 0.25 ",
            "0 1 0 0 0 1 0 0 1 0 ",
            "0, 0, 8, 8",
            "Really red",
            "Enum.SortOrder.LayoutOrder",
            "NumberSequence",
            "Font",
            "BrickColor",
            "Ray",
        ]),
        "{r}"
    );
    assert_eq!(
        r[1],
        json!([
            "0 3 0 1 3 0 ",
            "0 0 1 0 0 1 0 1 0 0 ",
            "5 5 ",
            "Font { Family = rbxasset://fonts/families/Roboto.json, Weight = Light, Style = Normal }",
            "0, 0, 16, 16",
            "Lime green",
            "{0, 0, 0}, {1, 0, 0}",
            "7 9 ",
            "Bright blue",
            true,
            "Font { Family = rbxasset://fonts/families/GothamSSm.json, Weight = Regular, Style = Normal }",
            "TaskScript:23: Unable to assign property Lifetime. NumberRange expected, got number",
        ]),
        "{r}"
    );
}

#[tokio::test]
async fn the_first_datatypes_have_the_members_ui_and_geometry_code_reads() {
    let script = format!(
        "{FAILS}{}",
        r#"
local v = Vector2.new(3, 4)
local h, s, value = Color3.fromRGB(255, 0, 0):ToHSV()
local frame = CFrame.new(Vector3.new(1, 2, 3), Vector3.new(1, 2, -7))
local moved = CFrame.new(1, 2, 3) * CFrame.Angles(0, math.pi / 2, 0)
local back = moved:Inverse() * moved
local function near(a, b)
	return math.abs(a - b) < 1e-9
end
return {
	tostring(v.Unit), v:Dot(Vector2.new(1, 1)), v:Cross(Vector2.new(1, 0)), tostring(v:Lerp(Vector2.zero, 0.5)),
	tostring(v / 2), tostring(-v), tostring(v:Min(Vector2.new(5, 1))), tostring(Vector2.xAxis),
	tostring(Vector3.new(-1, 2.5, -3):Abs()), tostring(Vector3.new(1.5, -1.5, 0):Floor()),
	tostring(Vector3.new(1, 5, 2):Max(Vector3.new(4, 0, 2))), near(Vector3.xAxis:Angle(Vector3.yAxis), math.pi / 2),
	h, s, value, Color3.fromHSV(1 / 3, 1, 1) == Color3.new(0, 1, 0), tostring(Color3.fromHSV(0, 0, 0.5)),
	tostring(UDim2.new(1, 10, 0.5, 4) - UDim2.fromOffset(5, 4)), tostring(UDim.new(1, 2) - UDim.new(0.5, 1)),
	tostring(UDim2.new():Lerp(UDim2.new(1, 100, 0, 50), 0.5)),
	tostring(frame.LookVector), tostring(frame.Position), frame.ZVector == Vector3.zAxis,
	CFrame.lookAt(Vector3.zero, Vector3.new(0, 0, -1)).RightVector == Vector3.xAxis,
	near(back.X, 0) and near(back.Y, 0) and near(back.Z, 0) and near(back.RightVector.X, 1),
	tostring(CFrame.new(1, 2, 3):PointToObjectSpace(Vector3.new(2, 2, 3))),
	tostring(CFrame.new(1, 2, 3):ToObjectSpace(CFrame.new(1, 2, 4)).Position),
	tostring(CFrame.new(5, 0, 0):VectorToWorldSpace(Vector3.new(1, 0, 0))),
	fails(function() return v.Nope end),
	fails(function() return Color3.new().Nope end),
}
"#
    );
    let r = run_empty(&script).await;
    assert_eq!(
        r,
        json!([
            "0.6, 0.8",
            7,
            -4,
            "1.5, 2",
            "1.5, 2",
            "-3, -4",
            "3, 1",
            "1, 0",
            "1, 2.5, 3",
            "1, -2, 0",
            "4, 5, 2",
            true,
            0,
            1,
            1,
            true,
            "0.5, 0.5, 0.5",
            "{1, 5}, {0.5, 0}",
            "0.5, 1",
            "{0.5, 50}, {0, 25}",
            "0, 0, -1",
            "1, 2, 3",
            true,
            true,
            true,
            "1, 0, 0",
            "0, 0, 1",
            "1, 0, 0",
            "TaskScript:30: Nope is not a valid member of Vector2",
            "TaskScript:31: Nope is not a valid member of Color3",
        ])
    );
}

#[tokio::test]
async fn random_repeats_its_seed_and_checks_its_intervals() {
    let script = r#"
local a, b = Random.new(42), Random.new(42)
local same = true
for _ = 1, 100 do
	local x = a:NextInteger(-5, 5)
	same = same and x == b:NextInteger(-5, 5) and x >= -5 and x <= 5
end
local n = a:NextNumber(2, 3)
local list = { 1, 2, 3, 4, 5 }
a:Shuffle(list)
table.sort(list)
return {
	typeof(a), same, n >= 2 and n < 3, math.abs(a:NextUnitVector().Magnitude - 1) < 1e-9,
	table.concat(list, ","), a:Clone():NextNumber() == a:NextNumber(), a:NextInteger(3, 3),
	select(2, pcall(a.NextInteger, a, 5, 1)), select(2, pcall(function() return a.Nope end)),
}
"#;
    let r = run_empty(script).await;
    assert_eq!(
        r,
        json!([
            "Random",
            true,
            true,
            true,
            "1,2,3,4,5",
            true,
            3,
            "invalid argument #2 to 'NextInteger' (interval is empty)",
            "TaskScript:15: Nope is not a valid member of Random",
        ])
    );
}

/// Roblox keeps colours as 32-bit floats, as a place does: a colour read back from a property
/// equals the one assigned, which UI suites assert (`expect(frame.BackgroundColor3).to.equal(c)`).
#[tokio::test]
async fn a_colour_read_back_from_a_property_equals_the_one_assigned() {
    let result = run_empty(
        r#"
local part, frame = Instance.new("Part"), Instance.new("Frame")
local red = Color3.fromRGB(196, 40, 28)
part.Color = red
frame.BackgroundColor3 = Color3.new(0.1, 0.2, 0.3)
return { part.Color == red, frame.BackgroundColor3 == Color3.new(0.1, 0.2, 0.3), red:ToHex(),
	tostring(Color3.new(0.1, 0.2, 0.3)) }
"#,
    )
    .await;
    assert_eq!(result, json!([true, true, "C4281C", "0.1, 0.2, 0.3"]));
}
