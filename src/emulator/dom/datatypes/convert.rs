//! Property and attribute values of the lazily loaded datatypes, both ways: a place's
//! `rbx_dom_weak` variant as the Luau datatype a script reads, and a Luau datatype a script
//! sets as the variant the tree keeps. The prelude's own types (Vector3 … CFrame) convert in
//! `instance.rs`; these are the arms it falls through to.

use mlua::{Function, Lua, Table, Value};
use rbx_dom_weak::types::{
    BrickColor, Color3, ColorSequence, ColorSequenceKeypoint, EnumItem, Font, FontStyle,
    FontWeight, NumberRange, NumberSequence, NumberSequenceKeypoint, Ray, Rect, Region3, Variant,
    VariantType, Vector2, Vector3,
};

use super::constructor;

/// A variant of one of these datatypes as Lua sees it; `None` for a type they do not cover.
pub(crate) fn to_lua(lua: &Lua, env: &Table, value: &Variant) -> mlua::Result<Option<Value>> {
    let call = |library: &str, args: Vec<Value>| -> mlua::Result<Value> {
        constructor(env, library, "new")?.call(mlua::MultiValue::from_iter(args))
    };
    let vector3 = |v: &Vector3| call("Vector3", numbers(&[v.x, v.y, v.z]));
    Ok(Some(match value {
        Variant::BrickColor(color) => {
            call("BrickColor", vec![Value::Integer(i64::from(*color as u16))])?
        }
        Variant::NumberRange(range) => call("NumberRange", numbers(&[range.min, range.max]))?,
        Variant::NumberSequence(sequence) => {
            let keypoint = constructor(env, "NumberSequenceKeypoint", "new")?;
            let list = lua.create_table()?;
            for k in &sequence.keypoints {
                list.push(keypoint.call::<Value>(numbers_multi(&[k.time, k.value, k.envelope]))?)?;
            }
            call("NumberSequence", vec![Value::Table(list)])?
        }
        Variant::ColorSequence(sequence) => {
            let keypoint = constructor(env, "ColorSequenceKeypoint", "new")?;
            let list = lua.create_table()?;
            for k in &sequence.keypoints {
                let color = color3(env, &k.color)?;
                list.push(keypoint.call::<Value>((f64::from(k.time), color))?)?;
            }
            call("ColorSequence", vec![Value::Table(list)])?
        }
        Variant::Rect(rect) => call(
            "Rect",
            numbers(&[rect.min.x, rect.min.y, rect.max.x, rect.max.y]),
        )?,
        Variant::Ray(ray) => call("Ray", vec![vector3(&ray.origin)?, vector3(&ray.direction)?])?,
        Variant::Region3(region) => call(
            "Region3",
            vec![vector3(&region.min)?, vector3(&region.max)?],
        )?,
        Variant::Font(font) => font_to_lua(env, font)?,
        Variant::EnumItem(item) => enum_item(env, &item.ty, item.value)?,
        _ => return Ok(None),
    }))
}

fn numbers(values: &[f32]) -> Vec<Value> {
    values
        .iter()
        .map(|v| Value::Number(f64::from(*v)))
        .collect()
}

fn numbers_multi(values: &[f32]) -> mlua::MultiValue {
    mlua::MultiValue::from_iter(numbers(values))
}

fn color3(env: &Table, color: &Color3) -> mlua::Result<Value> {
    constructor(env, "Color3", "new")?.call((
        f64::from(color.r),
        f64::from(color.g),
        f64::from(color.b),
    ))
}

/// `Enum[ty]:FromValue(value)`, or the bare number when the place names an enum or a value
/// this database does not know.
fn enum_item(env: &Table, ty: &str, value: u32) -> mlua::Result<Value> {
    let enums: Table = env.get("Enum")?;
    let lookup: mlua::Result<Value> = (|| {
        let enum_type: Table = enums.get(ty)?;
        let from_value: Function = enum_type.get("FromValue")?;
        from_value.call((enum_type, value))
    })();
    Ok(match lookup {
        Ok(Value::Nil) | Err(_) => Value::Integer(i64::from(value)),
        Ok(item) => item,
    })
}

fn font_to_lua(env: &Table, font: &Font) -> mlua::Result<Value> {
    let weight = enum_item(env, "FontWeight", u32::from(font.weight.as_u16()))?;
    let style_name = match font.style {
        FontStyle::Italic => "Italic",
        _ => "Normal",
    };
    let enums: Table = env.get("Enum")?;
    let style: Value = enums.get::<Table>("FontStyle")?.get(style_name)?;
    constructor(env, "Font", "new")?.call((font.family.as_str(), weight, style))
}

/// `typeof` of a Lua value: a datatype's `__type`, else the Lua type.
fn type_of(value: &Value) -> String {
    if let Value::Table(table) = value
        && let Some(meta) = table.metatable()
        && let Ok(name) = meta.raw_get::<String>("__type")
    {
        return name;
    }
    value.type_name().to_owned()
}

fn float(table: &Table, key: &str) -> Option<f32> {
    table.raw_get::<f64>(key).ok().map(|v| v as f32)
}

fn vector2_of(table: &Table, key: &str) -> Option<Vector2> {
    let v: Table = table.raw_get(key).ok()?;
    Some(Vector2::new(float(&v, "X")?, float(&v, "Y")?))
}

fn vector3_of(table: &Table, key: &str) -> Option<Vector3> {
    let v: Table = table.raw_get(key).ok()?;
    Some(Vector3::new(
        float(&v, "X")?,
        float(&v, "Y")?,
        float(&v, "Z")?,
    ))
}

/// A Lua value as a property of type `ty`, when it is that datatype.
pub(crate) fn from_lua(value: &Value, ty: VariantType) -> Option<Variant> {
    let Value::Table(t) = value else {
        return None;
    };
    let of = type_of(value);
    let is = |name: &str| of == name;
    Some(match ty {
        VariantType::BrickColor if is("BrickColor") => {
            let number = t.raw_get::<u16>("Number").ok()?;
            Variant::BrickColor(BrickColor::from_number(number)?)
        }
        VariantType::NumberRange if is("NumberRange") => {
            Variant::NumberRange(NumberRange::new(float(t, "Min")?, float(t, "Max")?))
        }
        VariantType::NumberSequence if is("NumberSequence") => {
            let mut keypoints = Vec::new();
            for k in t.get::<Table>("Keypoints").ok()?.sequence_values::<Table>() {
                let k = k.ok()?;
                keypoints.push(NumberSequenceKeypoint::new(
                    float(&k, "Time")?,
                    float(&k, "Value")?,
                    float(&k, "Envelope")?,
                ));
            }
            Variant::NumberSequence(NumberSequence { keypoints })
        }
        VariantType::ColorSequence if is("ColorSequence") => {
            let mut keypoints = Vec::new();
            for k in t.get::<Table>("Keypoints").ok()?.sequence_values::<Table>() {
                let k = k.ok()?;
                let c: Table = k.raw_get("Value").ok()?;
                let color = Color3::new(float(&c, "R")?, float(&c, "G")?, float(&c, "B")?);
                keypoints.push(ColorSequenceKeypoint::new(float(&k, "Time")?, color));
            }
            Variant::ColorSequence(ColorSequence { keypoints })
        }
        VariantType::Rect if is("Rect") => {
            Variant::Rect(Rect::new(vector2_of(t, "Min")?, vector2_of(t, "Max")?))
        }
        VariantType::Ray if is("Ray") => Variant::Ray(Ray::new(
            vector3_of(t, "Origin")?,
            vector3_of(t, "Direction")?,
        )),
        VariantType::Region3 if is("Region3") => {
            let centre = vector3_of(t, "CFrame")?;
            let size = vector3_of(t, "Size")?;
            let half = |c: f32, s: f32| (c - s / 2.0, c + s / 2.0);
            let (x0, x1) = half(centre.x, size.x);
            let (y0, y1) = half(centre.y, size.y);
            let (z0, z1) = half(centre.z, size.z);
            Variant::Region3(Region3::new(
                Vector3::new(x0, y0, z0),
                Vector3::new(x1, y1, z1),
            ))
        }
        VariantType::Font if is("Font") => font_from_lua(t)?,
        VariantType::EnumItem if is("EnumItem") => {
            let value = t.raw_get::<u32>("Value").ok()?;
            let to_string: Function = t.metatable()?.raw_get("__tostring").ok()?;
            let full: String = to_string.call(t).ok()?;
            let ty = full.split('.').nth(1)?.to_owned();
            Variant::EnumItem(EnumItem { ty, value })
        }
        _ => return None,
    })
}

fn font_from_lua(t: &Table) -> Option<Variant> {
    let family: String = t.raw_get("Family").ok()?;
    let weight: Table = t.raw_get("Weight").ok()?;
    let style: Table = t.raw_get("Style").ok()?;
    let weight = FontWeight::from_u16(weight.raw_get::<u16>("Value").ok()?)?;
    let style = match style.raw_get::<String>("Name").ok()?.as_str() {
        "Italic" => FontStyle::Italic,
        _ => FontStyle::Normal,
    };
    Some(Variant::Font(Font::new(&family, weight, style)))
}

/// The variant type an attribute of this datatype is kept as (Roblox's attribute types).
pub(crate) fn attribute_type(value: &Value) -> Option<VariantType> {
    Some(match type_of(value).as_str() {
        "BrickColor" => VariantType::BrickColor,
        "NumberRange" => VariantType::NumberRange,
        "NumberSequence" => VariantType::NumberSequence,
        "ColorSequence" => VariantType::ColorSequence,
        "Rect" => VariantType::Rect,
        "Font" => VariantType::Font,
        "EnumItem" => VariantType::EnumItem,
        _ => return None,
    })
}
