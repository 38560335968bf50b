//! `TestService`: what TestEZ's reporter and test code write to the task's output.

use mlua::Value;

use super::Registrar;
use crate::api::model::MessageType;

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.method("TestService", "Error", |_, dom, _, message: Value| {
        (dom.log)(MessageType::Error, &message.to_string()?);
        Ok(())
    })?;
    r.method("TestService", "Message", |_, dom, _, message: Value| {
        (dom.log)(MessageType::Output, &message.to_string()?);
        Ok(())
    })?;
    // `Warn(condition, message)` writes the warning when the condition is false.
    r.method(
        "TestService",
        "Warn",
        |_, dom, _, (condition, message): (bool, Value)| {
            if !condition {
                (dom.log)(MessageType::Warning, &message.to_string()?);
            }
            Ok(())
        },
    )
}
