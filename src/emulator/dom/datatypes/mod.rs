//! Roblox datatypes past the prelude's (`Vector3` … `CFrame`, `Enum`): one Luau file each,
//! compiled and run the first time a script reads one of its globals, so a task that never
//! touches `DateTime` or `BrickColor` pays nothing for them at start-up.
//!
//! Each file is a chunk called with `(env, native)`: the shared environment (for `typeof` and
//! the other datatypes it builds on) and the few Rust primitives below. It returns a table of
//! the globals it defines, which the prelude then sets in the environment for good (its
//! `__index` on the environment asks `loader` for a name in `global_names`).

pub(crate) mod convert;

use mlua::{Function, Lua, Table, Value};

/// A datatype's Luau file and the globals it defines.
struct Module {
    name: &'static str,
    source: &'static str,
    globals: &'static [&'static str],
}

/// Every lazily loaded datatype.
const MODULES: &[Module] = &[
    Module {
        name: "DateTime",
        source: include_str!("date_time.luau"),
        globals: &["DateTime"],
    },
    Module {
        name: "BrickColor",
        source: include_str!("brick_color.luau"),
        globals: &["BrickColor"],
    },
    Module {
        name: "NumberRange",
        source: include_str!("number_range.luau"),
        globals: &["NumberRange"],
    },
    Module {
        name: "NumberSequence",
        source: include_str!("number_sequence.luau"),
        globals: &["NumberSequence", "NumberSequenceKeypoint"],
    },
    Module {
        name: "ColorSequence",
        source: include_str!("color_sequence.luau"),
        globals: &["ColorSequence", "ColorSequenceKeypoint"],
    },
    Module {
        name: "Rect",
        source: include_str!("rect.luau"),
        globals: &["Rect"],
    },
    Module {
        name: "Region3",
        source: include_str!("region3.luau"),
        globals: &["Region3"],
    },
    Module {
        name: "Ray",
        source: include_str!("ray.luau"),
        globals: &["Ray"],
    },
    Module {
        name: "TweenInfo",
        source: include_str!("tween_info.luau"),
        globals: &["TweenInfo"],
    },
    Module {
        name: "Random",
        source: include_str!("random.luau"),
        globals: &["Random"],
    },
    Module {
        name: "Font",
        source: include_str!("font.luau"),
        globals: &["Font"],
    },
];

/// The names of the lazily loaded globals, as a set (`{ DateTime = true, … }`), for the
/// prelude's `__index` on the shared environment.
pub(crate) fn global_names(lua: &Lua) -> mlua::Result<Table> {
    let names = lua.create_table()?;
    for module in MODULES {
        for global in module.globals {
            names.raw_set(*global, true)?;
        }
    }
    Ok(names)
}

/// `loadDatatype(name, env)`: runs the module that defines the global `name` and returns the
/// table of every global it defines (the prelude sets them in `env` for good).
pub(crate) fn loader(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, (name, env): (String, Table)| {
        let Some(module) = MODULES.iter().find(|m| m.globals.contains(&name.as_str())) else {
            return Err(mlua::Error::runtime(format!("{name} is no datatype")));
        };
        lua.load(module.source)
            .set_name(format!("=luau-exec.{}", module.name))
            .call::<Table>((env, native(lua)?))
    })
}

/// A datatype's constructor table, loading its module if no script has yet (the Rust half
/// turns property values into datatypes through these).
pub(crate) fn library(env: &Table, name: &str) -> mlua::Result<Table> {
    env.get::<Table>(name)
}

/// A function of a datatype's constructor table (`NumberRange.new`).
pub(crate) fn constructor(env: &Table, name: &str, function: &str) -> mlua::Result<Function> {
    library(env, name)?.raw_get::<Function>(function)
}

/// The Rust primitives the datatypes need: the wall clock and the BrickColor list.
fn native(lua: &Lua) -> mlua::Result<Table> {
    let native = lua.create_table()?;
    native.set(
        "nowMillis",
        lua.create_function(|_, ()| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Ok(now as f64)
        })?,
    )?;
    native.set("brickColors", lua.create_function(brick_colors)?)?;
    Ok(native)
}

/// Every BrickColor Roblox has, by number: `{ number, name, r, g, b }` (0–255), from the
/// list `rbx_types` keeps for place files.
fn brick_colors(lua: &Lua, (): ()) -> mlua::Result<Table> {
    let list = lua.create_table()?;
    for number in 0..=u16::MAX {
        let Some(color) = rbx_dom_weak::types::BrickColor::from_number(number) else {
            continue;
        };
        let rgb = color.to_color3uint8();
        let entry = lua.create_sequence_from([
            Value::Integer(i64::from(number)),
            Value::String(lua.create_string(color.to_string())?),
            Value::Integer(i64::from(rgb.r)),
            Value::Integer(i64::from(rgb.g)),
            Value::Integer(i64::from(rgb.b)),
        ])?;
        list.push(entry)?;
    }
    Ok(list)
}
