//! Tests of the 1Password Connect stand-in, through a plain blocking HTTP client.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_test_support::connect::{derived_id, ConnectData, ConnectStandin, DEFAULT_TOKEN};

/// The same fixture shape the `op` stand-in reads.
fn fixture() -> Value {
    json!({
        "signed_in": true,
        "vaults": [
            {"id": "vdevelopmentaaaaaaaaaaaaa", "name": "Development", "items": [
                {"id": "icloudflareaaaaaaaaaaaaaa", "title": "Cloudflare", "category": "API_CREDENTIAL",
                 "sections": [{"id": "s1", "label": "Admin"}],
                 "fields": [
                    {"id": "credential", "type": "CONCEALED", "purpose": "PASSWORD",
                     "label": "credential", "value": "multi\nline = \"v\" ü "},
                    {"id": "f2", "type": "STRING", "label": "email", "value": "a@example.com",
                     "section": {"id": "s1", "label": "Admin"}},
                    {"id": "notesPlain", "type": "STRING", "purpose": "NOTES", "label": "notesPlain"}
                 ]},
                {"title": "Database", "fields": [{"id": "password", "label": "password", "value": "pw"}]}
            ]},
            {"id": "vproductionaaaaaaaaaaaaaa", "name": "Production", "items": []}
        ],
        "connect": {"tokens": [
            {"token": "all-vaults"},
            {"token": "dev-only", "vaults": ["Development"]}
        ]}
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// GETs `path` with `token` (if any) and returns the status and the body.
fn get(server: &ConnectStandin, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = agent().get(format!("{}{}", server.base_url(), path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.call().expect("request");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("body");
    (status, body)
}

fn get_json(server: &ConnectStandin, path: &str, token: Option<&str>) -> (u16, Value) {
    let (status, body) = get(server, path, token);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

#[test]
fn heartbeat_needs_no_token() {
    let server = ConnectStandin::start(ConnectData::default());
    assert_eq!(get(&server, "/heartbeat", None), (200, ".".to_string()));
    assert_eq!(server.token(), DEFAULT_TOKEN);
}

#[test]
fn lists_vaults_and_filters_by_name() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    assert_eq!(server.token(), "all-vaults");
    let (status, vaults) = get_json(&server, "/v1/vaults", Some("all-vaults"));
    assert_eq!(status, 200);
    let names: Vec<&str> = vaults
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Development", "Production"]);
    assert_eq!(vaults[0]["id"], "vdevelopmentaaaaaaaaaaaaa");
    assert_eq!(vaults[0]["items"], 2);

    let (status, vaults) = get_json(
        &server,
        "/v1/vaults?filter=name%20eq%20%22Production%22",
        Some("all-vaults"),
    );
    assert_eq!(status, 200);
    assert_eq!(vaults.as_array().unwrap().len(), 1);
    assert_eq!(vaults[0]["id"], "vproductionaaaaaaaaaaaaaa");

    // A scoped token only sees its vaults.
    let (_, vaults) = get_json(&server, "/v1/vaults", Some("dev-only"));
    assert_eq!(vaults.as_array().unwrap().len(), 1);
    assert_eq!(vaults[0]["name"], "Development");
}

#[test]
fn lists_items_and_filters_by_title() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    let token = Some("all-vaults");
    let (status, items) = get_json(&server, "/v1/vaults/vdevelopmentaaaaaaaaaaaaa/items", token);
    assert_eq!(status, 200);
    assert_eq!(items.as_array().unwrap().len(), 2);
    assert!(items[0].get("fields").is_none(), "summaries carry no fields");
    assert_eq!(items[0]["vault"], json!({"id": "vdevelopmentaaaaaaaaaaaaa"}));

    let (status, items) = get_json(
        &server,
        "/v1/vaults/vdevelopmentaaaaaaaaaaaaa/items?filter=title%20eq%20%22Database%22",
        token,
    );
    assert_eq!(status, 200);
    assert_eq!(items.as_array().unwrap().len(), 1);
    // An item without an id gets the id the `op` stand-in derives for it.
    assert_eq!(
        items[0]["id"],
        derived_id(&["item", "vdevelopmentaaaaaaaaaaaaa", "Database"])
    );

    let (status, body) = get_json(
        &server,
        "/v1/vaults/vdevelopmentaaaaaaaaaaaaa/items?filter=nonsense",
        token,
    );
    assert_eq!(status, 400);
    assert_eq!(body["status"], 400);
}

#[test]
fn full_item_has_connect_shape() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    let (status, item) = get_json(
        &server,
        "/v1/vaults/vdevelopmentaaaaaaaaaaaaa/items/icloudflareaaaaaaaaaaaaaa",
        Some("all-vaults"),
    );
    assert_eq!(status, 200);
    assert_eq!(item["title"], "Cloudflare");
    assert_eq!(item["category"], "API_CREDENTIAL");
    assert_eq!(item["sections"], json!([{"id": "s1", "label": "Admin"}]));
    let fields = item["fields"].as_array().unwrap();
    assert_eq!(
        fields[0],
        json!({"id": "credential", "type": "CONCEALED", "purpose": "PASSWORD",
               "label": "credential", "value": "multi\nline = \"v\" ü "})
    );
    assert_eq!(fields[1]["section"], json!({"id": "s1"}));
    assert!(fields[2].get("value").is_none(), "a field never set has no value");
}

#[test]
fn auth_errors_have_connect_shape() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    let expected_401 = json!({"status": 401, "message": "Invalid token signature"});
    assert_eq!(get_json(&server, "/v1/vaults", None), (401, expected_401.clone()));
    assert_eq!(get_json(&server, "/v1/vaults", Some("wrong")), (401, expected_401));

    let (status, body) = get_json(&server, "/v1/vaults/vproductionaaaaaaaaaaaaaa/items", Some("dev-only"));
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"status": 403, "message": "vault vproductionaaaaaaaaaaaaaa is not in scope"})
    );

    let (status, body) = get_json(&server, "/v1/vaults/nosuchvault/items", Some("all-vaults"));
    assert_eq!(status, 404);
    assert_eq!(body, json!({"status": 404, "message": "vault nosuchvault not found"}));

    let (status, body) = get_json(
        &server,
        "/v1/vaults/vdevelopmentaaaaaaaaaaaaa/items/nosuchitem",
        Some("all-vaults"),
    );
    assert_eq!(status, 404);
    assert_eq!(body, json!({"status": 404, "message": "item nosuchitem not found"}));
}

#[test]
fn forced_failures_then_recovery() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    server.fail_next(2, 503);
    server.fail_next(1, 500);
    let statuses: Vec<u16> = (0..4)
        .map(|_| get_json(&server, "/v1/vaults", Some("all-vaults")).0)
        .collect();
    assert_eq!(statuses, [503, 503, 500, 200]);
    let (_, body) = {
        server.fail_next(1, 503);
        get_json(&server, "/v1/vaults", Some("all-vaults"))
    };
    assert_eq!(body["status"], 503);
    assert!(body["message"].is_string());
}

#[test]
fn latency_delays_responses() {
    let server = ConnectStandin::start(ConnectData::default());
    server.set_latency(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(get(&server, "/heartbeat", None).0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    server.set_latency(Duration::ZERO);
}

#[test]
fn request_log_records_method_path_query_and_status() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    get(
        &server,
        "/v1/vaults?filter=name%20eq%20%22Development%22",
        Some("all-vaults"),
    );
    get(&server, "/v1/vaults", None);
    let log = server.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/v1/vaults");
    assert_eq!(log[0].query.as_deref(), Some("filter=name%20eq%20%22Development%22"));
    assert_eq!(log[0].bearer.as_deref(), Some("all-vaults"));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[1].bearer, None);
    assert_eq!(log[1].status, 401);
    server.clear_request_log();
    assert!(server.request_log().is_empty());
}

#[test]
fn update_changes_served_values() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    server.update(|data| {
        data.vaults[0].items[0].fields[0].value = Some("rotated".into());
    });
    let (_, item) = get_json(
        &server,
        "/v1/vaults/vdevelopmentaaaaaaaaaaaaa/items/icloudflareaaaaaaaaaaaaaa",
        Some("all-vaults"),
    );
    assert_eq!(item["fields"][0]["value"], "rotated");
}

#[test]
fn unknown_paths_get_json_404_and_drop_stops_the_server() {
    let server = ConnectStandin::start(ConnectData::default());
    let base = server.base_url();
    let (status, body) = get_json(&server, "/v2/nothing", Some(DEFAULT_TOKEN));
    assert_eq!(status, 404);
    assert_eq!(body["status"], 404);
    drop(server);
    assert!(agent().get(format!("{base}/heartbeat")).call().is_err());
}
