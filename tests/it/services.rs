//! The services real suites touch first, run by the real binary on the local backend:
//! `RunService` (the task's context, the frame events on the scheduler), `HttpService` (JSON by
//! Roblox's rules, GUIDs, no network), `Players`, `TweenService`, `Debris` and the data stores.
//! Values are exact, and the cases where a frame could hide a failure (an error after
//! `Heartbeat:Wait()`, a deadline with Heartbeat connected) are asserted to fail.

use serde_json::{Value, json};

use crate::places::run_one_spec;
use crate::support::{Expect, Outcome, Run};

/// A script's run on the local backend: first result, log lines (level, text), and the
/// expectations on the whole output.
struct Ran {
    output: Expect,
    result: Value,
    logs: Vec<(String, String)>,
}

impl std::ops::Deref for Ran {
    type Target = Expect;

    fn deref(&self) -> &Expect {
        &self.output
    }
}

async fn run(script: &str, timeout: &str) -> Ran {
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_TIMEOUT", timeout)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    let lines: Vec<Value> = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let logs = lines
        .iter()
        .filter(|line| line["event"] == "log")
        .map(|line| {
            (
                line["level"].as_str().unwrap_or_default().to_owned(),
                line["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let result = lines
        .iter()
        .rev()
        .find(|line| line["event"] == "result")
        .map(|line| line["results"][0].clone())
        .unwrap_or(Value::Null);
    Ran {
        output,
        result,
        logs,
    }
}

/// A script that must complete; its first result.
async fn result_of(script: &str) -> Value {
    let ran = run(script, "30s").await;
    ran.code(Outcome::Complete);
    ran.result
}

#[tokio::test]
async fn run_service_answers_as_a_server_and_fires_frames_with_their_delta_time() {
    let script = r#"
local RunService = game:GetService("RunService")
local r = {}
r.context = { RunService:IsServer(), RunService:IsClient(), RunService:IsStudio(), RunService:IsRunning(), RunService:IsEdit() }
r.types = { typeof(RunService.Heartbeat), typeof(RunService.Stepped), typeof(RunService.PreSimulation), typeof(RunService.PostSimulation), typeof(RunService.PreRender), typeof(RunService.RenderStepped) }
r.same = RunService.Heartbeat == RunService.Heartbeat
local beats, total, first, last = 0, 0, nil, nil
local connection = RunService.Heartbeat:Connect(function(dt)
	beats += 1
	-- The deltas after the first frame add up to the time between the first and the last.
	if first == nil then
		first = os.clock()
	else
		total += dt
	end
	last = os.clock()
end)
local steppedTime, steppedDelta = RunService.Stepped:Wait()
local delta = RunService.Heartbeat:Wait()
local started = os.clock()
task.wait(0.3)
local elapsed = os.clock() - started
connection:Disconnect()
local after = beats
task.wait(0.1)
r.rate = beats / elapsed
r.stopped = beats == after
r.connected = connection.Connected
r.delta = { delta > 0, math.abs(total - (last - first)) < 0.1, total / (beats - 1) > 0.015 }
r.stepped = { type(steppedTime), steppedTime > 0, steppedDelta > 0 }
local order = {}
RunService:BindToRenderStep("second", 200, function() table.insert(order, "second") end)
RunService:BindToRenderStep("first", 100, function(dt) table.insert(order, "first " .. type(dt)) end)
RunService.RenderStepped:Once(function() table.insert(order, "RenderStepped") end)
RunService.PostSimulation:Once(function() table.insert(order, "PostSimulation") end)
RunService.Heartbeat:Wait()
RunService:UnbindFromRenderStep("first")
RunService:UnbindFromRenderStep("second")
r.order = order
r.errors = {
	select(2, pcall(function() return RunService.IsServer() end)),
	select(2, pcall(function() RunService.Heartbeat:Connect(5) end)),
}
return r
"#;
    let r = result_of(script).await;
    assert_eq!(r["context"], json!([true, false, false, true, false]));
    assert_eq!(r["types"], json!(vec!["RBXScriptSignal"; 6]));
    assert_eq!(r["same"], true);
    // At most 60 a second (a loaded machine gives fewer, each with a longer deltaTime).
    let rate = r["rate"].as_f64().unwrap();
    assert!((5.0..=75.0).contains(&rate), "{rate} frames a second");
    assert_eq!(r["stopped"], true, "a disconnected handler is not called");
    assert_eq!(r["connected"], false);
    assert_eq!(r["delta"], json!([true, true, true]));
    assert_eq!(r["stepped"], json!(["number", true, true]));
    assert_eq!(
        r["order"],
        json!(["first number", "second", "RenderStepped", "PostSimulation"])
    );
    assert_eq!(
        r["errors"],
        json!([
            "TaskScript:41: Expected ':' not '.' calling member function IsServer",
            "TaskScript:42: Attempt to connect failed: Passed value is not a function",
        ])
    );
}

#[tokio::test]
async fn a_frame_loop_never_keeps_a_task_alive_nor_hides_a_stuck_one() {
    // Connected when the script returns: the task ends with it.
    let ran = run(
        "local RunService = game:GetService('RunService')\nRunService.Heartbeat:Connect(function() end)\nRunService:BindToRenderStep('x', 1, function() end)\nreturn 'done'",
        "30s",
    )
    .await;
    ran.code(Outcome::Complete);
    assert_eq!(ran.result, "done");
    // Nobody listens any more and nothing is scheduled: stuck, ended at once.
    let ran = run(
        "local RunService = game:GetService('RunService')\nRunService.Heartbeat:Connect(function() end):Disconnect()\nRunService.Heartbeat:Wait()\ncoroutine.yield()",
        "30s",
    )
    .await;
    ran.code(Outcome::DeadlineExceeded)
        .stdout_has("yielded with nothing scheduled");
}

#[tokio::test]
async fn an_error_after_a_frame_still_fails_the_task() {
    let ran = run(
        "game:GetService('RunService').Heartbeat:Wait()\nerror('after the frame')",
        "30s",
    )
    .await;
    ran.code(Outcome::ScriptError)
        .stdout_has("TaskScript:2: after the frame");
}

#[tokio::test]
async fn heartbeat_handler_errors_are_logged_with_their_traceback_and_frames_go_on() {
    let script = "local count = 0\ngame:GetService('RunService').Heartbeat:Connect(function()\n\tcount += 1\n\tif count == 1 then error('handler broke') end\nend)\nwhile count < 4 do game:GetService('RunService').Heartbeat:Wait() end\nreturn count";
    let ran = run(script, "30s").await;
    ran.code(Outcome::Complete);
    // The handler ran in the frames after the one where it failed.
    assert_eq!(ran.result, 4);
    let errors: Vec<&String> = ran
        .logs
        .iter()
        .filter(|(level, _)| level == "ERROR")
        .map(|(_, text)| text)
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", ran.logs);
    assert!(
        errors[0].starts_with("TaskScript:4: handler broke\nTaskScript:4"),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn deadlines_hold_while_frames_run() {
    let cases = [
        // A listener and a script that waits forever.
        "game:GetService('RunService').Heartbeat:Connect(function() end)\nwhile true do task.wait(0.05) end",
        // A handler that never returns.
        "game:GetService('RunService').Heartbeat:Connect(function() while true do end end)\ntask.wait(10)",
        // Waiting on frames forever.
        "while true do game:GetService('RunService').Heartbeat:Wait() end",
    ];
    for script in cases {
        let started = std::time::Instant::now();
        let ran = run(script, "1s").await;
        ran.code(Outcome::DeadlineExceeded)
            .stdout_has("DEADLINE_EXCEEDED");
        assert!(started.elapsed().as_secs() < 20, "{script}");
    }
}

/// A TestEZ test that fails after waiting for a frame is a failed test, and the suite goes on.
#[tokio::test]
async fn a_testez_test_failing_after_a_frame_is_a_failure() {
    let spec = "local RunService = game:GetService(\"RunService\")\nreturn function()\n\tit(\"waits a frame then fails\", function()\n\t\tRunService.Heartbeat:Wait()\n\t\terror(\"late failure\")\n\tend)\n\tit(\"waits a frame then passes\", function()\n\t\tlocal dt = RunService.Heartbeat:Wait()\n\t\texpect(dt > 0).to.equal(true)\n\tend)\nend\n";
    let (output, result) = run_one_spec("frames.spec", spec).await;
    output.code(Outcome::TestsFailed);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 2, "passed": 1, "failed": 1, "skipped": 0 })
    );
    let failed = result["tests"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "failed")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .starts_with("ReplicatedStorage.Tests.frames.spec:5: late failure"),
        "{failed}"
    );
}

#[tokio::test]
async fn http_service_encodes_and_decodes_json_by_roblox_rules() {
    let script = r#"
local HttpService = game:GetService("HttpService")
local function encode(value) return HttpService:JSONEncode(value) end
local r = {}
r.encoded = {
	encode({ 1, "two", true }),
	encode({}),
	encode({ b = 1, a = { c = "d" } }),
	encode({ 1, 2, x = 3 }),
	encode({ [1] = "a", [3] = "c" }),
	encode({ 0 / 0, math.huge, -math.huge, 0.5, 2 ^ 53 }),
	encode("a\"b\\c\n\1"),
	encode({ v = Vector3.new(1, 2, 3), i = workspace }),
	encode(setmetatable({ k = 1 }, { __index = {} })),
	encode(nil),
	encode(12),
}
local cyclic = {}
cyclic.self = cyclic
r.errors = {
	select(2, pcall(function() return HttpService:JSONEncode({ f = print }) end)),
	select(2, pcall(function() return HttpService:JSONEncode({ [true] = 1 }) end)),
	select(2, pcall(function() return HttpService:JSONEncode(cyclic) end)),
	select(2, pcall(function() return HttpService:JSONDecode("{nope") end)),
	select(2, pcall(function() return HttpService:JSONDecode("[1,") end)),
	select(2, pcall(function() return HttpService:JSONDecode("NaN") end)),
	select(2, pcall(function() return HttpService.JSONEncode({}) end)),
	select(2, pcall(function() return HttpService:GetAsync("https://example.com") end)),
	select(2, pcall(function() return HttpService:RequestAsync({ Url = "https://example.com" }) end)),
}
r.decoded = HttpService:JSONDecode('{"a":[1,2,{"b":null}],"c":"d","e":1.5,"t":true,"u":"\\u00e9"}')
local holes = HttpService:JSONDecode("[1,null,3]")
r.holes = { holes[1], holes[2] == nil, holes[3] }
r.scalars = { HttpService:JSONDecode("12"), HttpService:JSONDecode('"x"'), HttpService:JSONDecode("null") == nil }
local guid = HttpService:GenerateGUID()
local bare = HttpService:GenerateGUID(false)
r.guid = {
	string.match(guid, "^{%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89AB]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x}$") ~= nil,
	guid == string.upper(guid),
	#bare,
	string.sub(bare, 1, 1) ~= "{",
	HttpService:GenerateGUID() ~= guid,
}
r.url = HttpService:UrlEncode("a b&c")
return r
"#;
    let r = result_of(script).await;
    assert_eq!(
        r["encoded"],
        json!([
            "[1,\"two\",true]",
            "[]",
            "{\"a\":{\"c\":\"d\"},\"b\":1}",
            "{\"1\":1,\"2\":2,\"x\":3}",
            "{\"1\":\"a\",\"3\":\"c\"}",
            "[null,null,null,0.5,9007199254740992]",
            "\"a\\\"b\\\\c\\n\\u0001\"",
            "{\"i\":null,\"v\":null}",
            "{\"k\":1}",
            "null",
            "12",
        ])
    );
    assert_eq!(
        r["errors"],
        json!([
            "TaskScript:21: Can't convert to JSON",
            "TaskScript:22: Can't convert to JSON",
            "TaskScript:23: tables cannot be cyclic",
            "TaskScript:24: Can't parse JSON",
            "TaskScript:25: Can't parse JSON",
            "TaskScript:26: Can't parse JSON",
            "TaskScript:27: Expected ':' not '.' calling member function JSONEncode",
            "TaskScript:28: HttpService:GetAsync cannot reach the network: the local emulator makes no HTTP requests (run it with backend open-cloud)",
            "TaskScript:29: HttpService:RequestAsync cannot reach the network: the local emulator makes no HTTP requests (run it with backend open-cloud)",
        ])
    );
    assert_eq!(
        r["decoded"],
        json!({ "a": [1, 2, []], "c": "d", "e": 1.5, "t": true, "u": "é" })
    );
    assert_eq!(r["holes"], json!([1, true, 3]));
    assert_eq!(r["scalars"], json!([12, "x", true]));
    assert_eq!(r["guid"], json!([true, true, 36, true, true]));
    assert_eq!(r["url"], "a%20b%26c");
}

#[tokio::test]
async fn players_debris_and_data_stores_answer_as_an_empty_offline_server() {
    let script = r#"
local Players = game:GetService("Players")
local r = {}
local joined = false
Players.PlayerAdded:Connect(function() joined = true end)
r.players = { #Players:GetPlayers(), Players.LocalPlayer == nil, typeof(Players.PlayerAdded), Players:GetPlayerByUserId(1) == nil, Players:GetPlayerFromCharacter(workspace) == nil, #Players:getPlayers() }
local Debris = game:GetService("Debris")
local part = Instance.new("Part")
part.Parent = workspace
Debris:AddItem(part, 0.05)
r.debris = { part.Parent == workspace }
task.wait(0.15)
table.insert(r.debris, part.Parent == nil)
r.joined = joined
r.errors = {
	select(2, pcall(function() return game:GetService("DataStoreService"):GetDataStore("scores") end)),
	select(2, pcall(function() return game:GetService("MemoryStoreService"):GetHashMap("m") end)),
	select(2, pcall(function() Debris:AddItem("nope", 1) end)),
	select(2, pcall(function() return Players.GetPlayers() end)),
}
return r
"#;
    let r = result_of(script).await;
    assert_eq!(
        r["players"],
        json!([0, true, "RBXScriptSignal", true, true, 0])
    );
    assert_eq!(r["debris"], json!([true, true]));
    assert_eq!(r["joined"], false);
    assert_eq!(
        r["errors"],
        json!([
            "TaskScript:16: DataStoreService:GetDataStore is not available in the local emulator, which has no data stores (run it with backend open-cloud)",
            "TaskScript:17: MemoryStoreService:GetHashMap is not available in the local emulator, which has no memory-store hash maps (run it with backend open-cloud)",
            "TaskScript:18: Unable to cast value to Object",
            "TaskScript:19: Expected ':' not '.' calling member function GetPlayers",
        ])
    );
}

#[tokio::test]
async fn tweens_set_their_goals_when_their_time_is_over() {
    let script = r#"
local TweenService = game:GetService("TweenService")
local function info(seconds)
	return TweenInfo.new(seconds)
end
local r = {}
local part = Instance.new("Part")
local tween = TweenService:Create(part, info(0.05), { Transparency = 0.5 })
r.made = { typeof(tween), tween:IsA("Tween"), tween.ClassName, tween.PlaybackState.Name, tween.Instance == part }
tween:Play()
r.playing = { tween.PlaybackState.Name, part.Transparency }
local state = tween.Completed:Wait()
r.completed = { state.Name, tween.PlaybackState.Name, part.Transparency }

local other = Instance.new("Part")
local cancelled = TweenService:Create(other, info(10), { Transparency = 1 })
local got
cancelled.Completed:Connect(function(s) got = s.Name end)
cancelled:Play()
cancelled:Cancel()
task.wait()
r.cancelled = { got, cancelled.PlaybackState.Name, other.Transparency }

local third = Instance.new("Part")
local paused = TweenService:Create(third, info(0.6), { Transparency = 1 })
paused:Play()
task.wait(0.02)
paused:Pause()
r.paused = { paused.PlaybackState.Name }
task.wait(0.1)
table.insert(r.paused, third.Transparency)
paused:Play()
paused.Completed:Wait()
table.insert(r.paused, third.Transparency)

r.errors = {
	select(2, pcall(function() TweenService:Create(part, info(1), { Nope = 1 }) end)),
	select(2, pcall(function() TweenService:Create(part, info(1), { Transparency = "x" }) end)),
	select(2, pcall(function() TweenService:Create("part", info(1), {}) end)),
	select(2, pcall(function() TweenService.Create(part, info(1), {}) end)),
	select(2, pcall(function() TweenService:Create(part, { Time = 1 }, {}) end)),
}
return r
"#;
    let r = result_of(script).await;
    assert_eq!(r["made"], json!(["Instance", true, "Tween", "Begin", true]));
    assert_eq!(r["playing"], json!(["Playing", 0]));
    assert_eq!(r["completed"], json!(["Completed", "Completed", 0.5]));
    assert_eq!(r["cancelled"], json!(["Cancelled", "Cancelled", 0]));
    assert_eq!(r["paused"], json!(["Paused", 0, 1]));
    assert_eq!(
        r["errors"],
        json!([
            "TaskScript:37: TweenService:Create no property named 'Nope' for object 'Part'",
            "TaskScript:38: TweenService:Create property named 'Transparency' cannot be tweened due to type mismatch (property is a 'number', but given type is 'string')",
            "TaskScript:39: Unable to cast value to Object",
            "TaskScript:40: Expected ':' not '.' calling member function Create",
            "TaskScript:41: Unable to cast value to TweenInfo",
        ])
    );
}

/// Roblox collects garbage in the background; a suite that waits for a weak reference to clear
/// (Fusion's `waitForGC` polls a weak table with `task.wait`) must see it clear while its threads
/// sleep, even when nothing allocates. Before the scheduler collected when idle, this waited
/// forever (Fusion's suite took 24 s offline).
#[tokio::test]
async fn garbage_is_collected_while_every_thread_waits() {
    let ran = run(
        "local weak = setmetatable({}, { __mode = 'v' })
         weak[1] = {}
         local waits = 0
         while weak[1] ~= nil and waits < 20 do
             task.wait(0.05)
             waits += 1
         end
         return weak[1] == nil, waits",
        "10s",
    )
    .await;
    ran.code(Outcome::Complete);
    assert_eq!(ran.result, json!(true), "{}", ran.stdout);
}

#[tokio::test]
async fn log_service_message_out_hears_each_print_and_warn_with_its_kind() {
    // Deferred signals (the default): each line reaches the handler after the printing thread
    // yields, in order, with Enum.MessageType; a disconnected handler hears nothing more.
    let heard = result_of(
        r#"
        local LogService = game:GetService("LogService")
        local heard = {}
        local connection = LogService.MessageOut:Connect(function(message, kind)
            table.insert(heard, message .. "|" .. tostring(kind))
        end)
        print("one", 2)
        warn("careful")
        task.wait()
        connection:Disconnect()
        print("after")
        task.wait()
        return heard
        "#,
    )
    .await;
    assert_eq!(
        heard,
        serde_json::json!([
            "one 2|Enum.MessageType.MessageOutput",
            "careful|Enum.MessageType.MessageWarning"
        ])
    );
}
