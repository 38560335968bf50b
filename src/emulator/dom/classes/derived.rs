//! Properties Roblox derives from another one, which place files never hold (so the reflection
//! database has no default for them): `BasePart.BrickColor`, the nearest BrickColor of the
//! part's `Color` (setting it sets `Color`), and the text objects' `Font`, the `Enum.Font` item
//! whose face is `FontFace` (`Unknown` when none is; setting it sets `FontFace`).

use mlua::Table;

use super::{Member, Registrar};

/// The getters and setters, in Luau over the datatypes (`BrickColor`, `Font`).
const DERIVED: &str = r#"
local env = ...
local function expect(value, typeName, property)
	if env.typeof(value) ~= typeName then
		error(string.format("Unable to assign property %s. %s expected, got %s", property, typeName, env.typeof(value)), 0)
	end
end
local derived = {}
function derived.getBrickColor(part)
	return env.BrickColor.new(part.Color)
end
function derived.setBrickColor(part, value)
	expect(value, "BrickColor", "BrickColor")
	part.Color = value.Color
end
function derived.getFont(object)
	local face = object.FontFace
	for _, item in env.Enum.Font:GetEnumItems() do
		local ok, font = pcall(env.Font.fromEnum, item)
		if ok and font == face then
			return item
		end
	end
	return env.Enum.Font.Unknown
end
function derived.setFont(object, value)
	expect(value, "EnumItem", "Font")
	object.FontFace = env.Font.fromEnum(value)
end
return derived
"#;

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    let derived: Table = r
        .lua()
        .load(DERIVED)
        .set_name("=luau-exec.derived")
        .call(r.env().clone())?;
    r.member(
        "BasePart",
        "BrickColor",
        Member::Property {
            get: Some(derived.get("getBrickColor")?),
            set: Some(derived.get("setBrickColor")?),
        },
    );
    for class in ["TextLabel", "TextButton", "TextBox"] {
        r.member(
            class,
            "Font",
            Member::Property {
                get: Some(derived.get("getFont")?),
                set: Some(derived.get("setFont")?),
            },
        );
    }
    Ok(())
}
