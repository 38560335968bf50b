//! Our output read back the way GitHub's runner reads it: workflow commands on stdout and the
//! `GITHUB_OUTPUT` file.

use std::collections::{HashMap, HashSet};

/// A workflow command as the runner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowCommand {
    pub name: String,
    pub properties: HashMap<String, String>,
    pub data: String,
}

/// Reads lines the way `actions/runner` does (`ActionCommandManager.TryProcessCommand`,
/// `ActionCommand.TryParseV2` / `TryParse`): the `::name props::data` grammar at the start of a
/// line after leading whitespace, the legacy `##[name props]data` grammar anywhere in a line,
/// case-insensitive registered names, and `stop-commands` / resume by token.
pub struct RunnerParser {
    registered: HashSet<String>,
    stop_token: Option<String>,
}

impl Default for RunnerParser {
    fn default() -> Self {
        let registered = [
            "add-mask",
            "add-matcher",
            "remove-matcher",
            "debug",
            "notice",
            "warning",
            "error",
            "group",
            "endgroup",
            "echo",
            "save-state",
            "set-output",
            "set-env",
            "add-path",
            "stop-commands",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        Self {
            registered,
            stop_token: None,
        }
    }
}

fn unescape_data(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn unescape_property(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

impl RunnerParser {
    /// Every command processed from `text`, in order. Resume lines are consumed, not returned.
    pub fn parse(&mut self, text: &str) -> Vec<WorkflowCommand> {
        text.lines()
            .filter_map(|line| self.process_line(line))
            .collect()
    }

    pub fn is_stopped(&self) -> bool {
        self.stop_token.is_some()
    }

    fn process_line(&mut self, line: &str) -> Option<WorkflowCommand> {
        if !line.contains("##[") && !line.contains("::") {
            return None;
        }
        let command = self.parse_v2(line).or_else(|| self.parse_legacy(line))?;
        if let Some(token) = &self.stop_token {
            if command.name.eq_ignore_ascii_case(token) {
                self.registered.remove(&token.to_lowercase());
                self.stop_token = None;
            }
            return None;
        }
        if command.name.eq_ignore_ascii_case("stop-commands") {
            assert!(
                !command.data.is_empty(),
                "an empty stop token fails the step"
            );
            assert!(
                !self.registered.contains(&command.data.to_lowercase()),
                "a stop token equal to a command name fails the step"
            );
            self.registered.insert(command.data.to_lowercase());
            self.stop_token = Some(command.data.clone());
        }
        Some(command)
    }

    fn parse_v2(&self, line: &str) -> Option<WorkflowCommand> {
        let message = line.trim_start();
        let rest = message.strip_prefix("::")?;
        let end = rest.find("::")?;
        let info = &rest[..end];
        let data = &rest[end + 2..];
        let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
        if !self.registered.contains(&name.to_lowercase()) {
            return None;
        }
        let properties = properties
            .trim()
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_lowercase(), unescape_property(v)))
            .collect();
        Some(WorkflowCommand {
            name: name.to_lowercase(),
            properties,
            data: unescape_data(data),
        })
    }

    fn parse_legacy(&self, line: &str) -> Option<WorkflowCommand> {
        let start = line.find("##[")?;
        let rest = &line[start + 3..];
        let end = rest.find(']')?;
        let info = &rest[..end];
        let data = &rest[end + 1..];
        let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
        if !self.registered.contains(&name.to_lowercase()) {
            return None;
        }
        let properties = properties
            .split(';')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_lowercase(), v.to_owned()))
            .collect();
        Some(WorkflowCommand {
            name: name.to_lowercase(),
            properties,
            data: data.to_owned(),
        })
    }
}

/// Reads a `GITHUB_OUTPUT` file the way the runner does (`FileCommandManager`): `name=value`
/// or `name<<DELIM` … a line exactly `DELIM`.
pub fn parse_output_file(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (heredoc, equals) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let name = &line[..h];
                let delimiter = &line[h + 2..];
                assert!(!name.is_empty() && !delimiter.is_empty());
                let mut value = Vec::new();
                loop {
                    let next = lines.next().expect("Matching delimiter not found");
                    if next == delimiter {
                        break;
                    }
                    value.push(next);
                }
                pairs.push((name.to_owned(), value.join("\n")));
            }
            (_, Some(e)) => pairs.push((line[..e].to_owned(), line[e + 1..].to_owned())),
            _ => panic!("Invalid format: {line}"),
        }
    }
    pairs
}
