//! Property and attribute values, both ways: a place's `rbx_dom_weak` variant as the Lua value
//! a script reads, and a Lua value a script sets as the variant the tree keeps. Plain values
//! first, then the prelude's datatypes (Vector3 … CFrame), enums and instances, then the lazily
//! loaded datatypes.

use mlua::{Error as LuaError, Function, Lua, Table, Value};
use rbx_dom_weak::types::{
    BrickColor, CFrame, Color3, ColorSequence, ColorSequenceKeypoint, EnumItem, Font, FontStyle,
    FontWeight, Matrix3, NumberRange, NumberSequence, NumberSequenceKeypoint, Ray, Rect, Ref,
    Region3, UDim, UDim2, Variant, VariantType, Vector2, Vector3,
};

use super::constructor;
use crate::emulator::dom::Dom;
use crate::emulator::dom::instance::{InstanceRef, handle_or_nil, number, value_type};

/// A property value as Lua sees it.
pub(crate) fn to_lua(
    lua: &Lua,
    dom: &Dom,
    class: &str,
    key: &str,
    value: &Variant,
) -> mlua::Result<Value> {
    if let Some(plain) = plain_to_lua(lua, value)? {
        return Ok(plain);
    }
    match value {
        Variant::Enum(item) => return enum_property(dom, class, key, item.to_u32()),
        Variant::Ref(r) => return handle_or_nil(lua, dom, *r),
        _ => {}
    }
    // A datatype's constructor comes from the shared environment (its module loads on first
    // use); the borrow ends here because a constructor may reach the tree.
    let env = dom.hooks.borrow().shared_env.clone();
    if let Some(made) = prelude_to_lua(env.as_ref(), value)? {
        return Ok(made);
    }
    if let Some(env) = &env
        && let Some(made) = lazy_to_lua(lua, env, value)?
    {
        return Ok(made);
    }
    Err(LuaError::runtime(format!(
        "{class}.{key} ({:?}) is not emulated: the local emulator does not read this type",
        value.ty()
    )))
}

/// The values Lua holds natively: strings, booleans, numbers, and a tag list as a table.
fn plain_to_lua(lua: &Lua, value: &Variant) -> mlua::Result<Option<Value>> {
    Ok(Some(match value {
        Variant::String(s) => Value::String(lua.create_string(s)?),
        Variant::BinaryString(b) => Value::String(lua.create_string(AsRef::<[u8]>::as_ref(b))?),
        Variant::ContentId(c) => Value::String(lua.create_string(c.as_str())?),
        Variant::Bool(b) => Value::Boolean(*b),
        Variant::Int32(n) => Value::Integer(i64::from(*n)),
        Variant::Int64(n) => Value::Number(*n as f64),
        Variant::Float32(n) => Value::Number(f64::from(*n)),
        Variant::Float64(n) => Value::Number(*n),
        Variant::Tags(tags) => {
            let list = lua.create_table()?;
            for tag in tags.iter() {
                list.push(tag)?;
            }
            Value::Table(list)
        }
        _ => return Ok(None),
    }))
}

/// The prelude's datatypes (Vector3 … CFrame), built by their `new`; nil before the shared
/// environment exists.
fn prelude_to_lua(env: Option<&Table>, value: &Variant) -> mlua::Result<Option<Value>> {
    let make = |name: &str, args: &[f64]| -> mlua::Result<Value> {
        match env {
            Some(env) => constructor(env, name, "new")?.call(mlua::MultiValue::from_iter(
                args.iter().map(|a| Value::Number(*a)),
            )),
            None => Ok(Value::Nil),
        }
    };
    let f = f64::from;
    Ok(Some(match value {
        Variant::Vector3(v) => make("Vector3", &[f(v.x), f(v.y), f(v.z)])?,
        Variant::Vector2(v) => make("Vector2", &[f(v.x), f(v.y)])?,
        Variant::Color3(c) => make("Color3", &[f(c.r), f(c.g), f(c.b)])?,
        Variant::Color3uint8(c) => {
            let unit = |byte: u8| f64::from(byte) / 255.0;
            make("Color3", &[unit(c.r), unit(c.g), unit(c.b)])?
        }
        Variant::UDim(u) => make("UDim", &[f(u.scale), f64::from(u.offset)])?,
        Variant::UDim2(u) => make(
            "UDim2",
            &[
                f(u.x.scale),
                f64::from(u.x.offset),
                f(u.y.scale),
                f64::from(u.y.offset),
            ],
        )?,
        Variant::CFrame(c) => {
            let (p, o) = (c.position, c.orientation);
            let row = |v: Vector3| [f(v.x), f(v.y), f(v.z)];
            let mut args = row(p).to_vec();
            for axis in [o.x, o.y, o.z] {
                args.extend(row(axis));
            }
            make("CFrame", &args)?
        }
        _ => return Ok(None),
    }))
}

/// An enum property's item: its enum is the one the reflection database declares for the
/// property on the class or a superclass; the bare number when none is known.
fn enum_property(dom: &Dom, class: &str, key: &str, value: u32) -> mlua::Result<Value> {
    let enum_name = dom.db.classes.get(class).and_then(|c| {
        dom.db
            .superclasses_iter(c)
            .find_map(|c| match c.properties.get(key)?.data_type {
                rbx_reflection::DataType::Enum(name) => Some(name),
                _ => None,
            })
    });
    let maker = dom.hooks.borrow().make_enum.clone();
    match (enum_name, maker) {
        (Some(name), Some(maker)) => maker.call((name, value)),
        _ => Ok(Value::Integer(i64::from(value))),
    }
}

/// A Lua value as a property value of type `ty`, when it can be one.
pub(crate) fn from_lua(value: &Value, ty: VariantType) -> Option<Variant> {
    use VariantType as T;
    let datatype = |name: &str| match value {
        Value::Table(t) if value_type(value) == name => Some(t.clone()),
        _ => None,
    };
    Some(match ty {
        T::String => match value {
            Value::String(s) => Variant::String(s.to_str().ok()?.to_owned()),
            _ => return None,
        },
        T::Bool => Variant::Bool(value.as_boolean()?),
        T::Float32 => Variant::Float32(number(value)? as f32),
        T::Float64 => Variant::Float64(number(value)?),
        T::Int32 => Variant::Int32(number(value)? as i32),
        T::Int64 => Variant::Int64(number(value)? as i64),
        // Enums are checked against their items: see `enum_item`.
        T::Vector3 => {
            let t = datatype("Vector3")?;
            Variant::Vector3(Vector3::new(
                float(&t, "X")?,
                float(&t, "Y")?,
                float(&t, "Z")?,
            ))
        }
        T::Vector2 => {
            let t = datatype("Vector2")?;
            Variant::Vector2(Vector2::new(float(&t, "X")?, float(&t, "Y")?))
        }
        T::Color3 => {
            let t = datatype("Color3")?;
            Variant::Color3(Color3::new(
                float(&t, "R")?,
                float(&t, "G")?,
                float(&t, "B")?,
            ))
        }
        T::UDim => {
            let t = datatype("UDim")?;
            Variant::UDim(UDim::new(float(&t, "Scale")?, float(&t, "Offset")? as i32))
        }
        T::UDim2 => {
            let t = datatype("UDim2")?;
            let x: Table = t.raw_get("X").ok()?;
            let y: Table = t.raw_get("Y").ok()?;
            Variant::UDim2(UDim2::new(
                UDim::new(float(&x, "Scale")?, float(&x, "Offset")? as i32),
                UDim::new(float(&y, "Scale")?, float(&y, "Offset")? as i32),
            ))
        }
        T::CFrame => {
            let t = datatype("CFrame")?;
            let r: Table = t.raw_get("_r").ok()?;
            let m = |i: usize| r.raw_get::<f64>(i).ok().map(|v| v as f32);
            Variant::CFrame(CFrame::new(
                Vector3::new(float(&t, "X")?, float(&t, "Y")?, float(&t, "Z")?),
                Matrix3::new(
                    Vector3::new(m(1)?, m(2)?, m(3)?),
                    Vector3::new(m(4)?, m(5)?, m(6)?),
                    Vector3::new(m(7)?, m(8)?, m(9)?),
                ),
            ))
        }
        T::Ref => match value {
            Value::Nil => Variant::Ref(Ref::none()),
            Value::UserData(data) => Variant::Ref(data.borrow::<InstanceRef>().ok()?.0),
            _ => return None,
        },
        other => return lazy_from_lua(value, other),
    })
}

/// An attribute value from Lua: the types Roblox attributes hold.
pub(crate) fn attribute_from_lua(value: &Value) -> Option<Variant> {
    use VariantType as T;
    match value {
        Value::String(s) => Some(Variant::String(s.to_str().ok()?.to_owned())),
        Value::Boolean(b) => Some(Variant::Bool(*b)),
        Value::Integer(_) | Value::Number(_) => Some(Variant::Float64(number(value)?)),
        Value::Table(_) => match value_type(value).as_str() {
            "Vector3" => from_lua(value, T::Vector3),
            "Vector2" => from_lua(value, T::Vector2),
            "Color3" => from_lua(value, T::Color3),
            "UDim" => from_lua(value, T::UDim),
            "UDim2" => from_lua(value, T::UDim2),
            "CFrame" => from_lua(value, T::CFrame),
            _ => from_lua(value, attribute_type(value)?),
        },
        _ => None,
    }
}

/// A variant of one of the lazily loaded datatypes as Lua sees it; `None` for a type they do
/// not cover.
fn lazy_to_lua(lua: &Lua, env: &Table, value: &Variant) -> mlua::Result<Option<Value>> {
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

/// A Lua value as a property of a lazily loaded datatype `ty`, when it is that datatype.
fn lazy_from_lua(value: &Value, ty: VariantType) -> Option<Variant> {
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
