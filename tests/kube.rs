//! The Kubernetes manifests in container/kube (README.md, "Kubernetes"):
//!
//! - ast-emu-bmc.yaml, for clusters (a StatefulSet and Services), checked for its structure
//!   without a cluster (parsed with python3's yaml module; `kubectl apply --dry-run=client`
//!   too when kubectl reaches a cluster), and ast-emu-bmc-podman.yaml (the StatefulSet's first
//!   pod as a Pod, which `podman kube play` 4.3 plays) checked to hold the same container;
//! - `podman kube play` of the Podman file, with the binary under test's image and free host
//!   ports: the BMC answers over SSH with the guest's own output; `podman kube down` leaves
//!   nothing running, and the flash volume until the test removes it;
//! - an image put in the flash volume boots, and with AST_EMU_PERSIST=1 what the guest wrote
//!   is in it at the next play (`podman pod stop` first: podman 4.3's `kube down` kills).
//!
//! Skips with a message where python3-yaml, ssh/sshpass or Podman are missing, or where
//! Podman cannot start any container at all; once it can, a failure is a failure. Podman
//! runs with the repository's container/containers.conf unless CONTAINERS_CONF names another,
//! as in tests/container.rs.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::podman::{
    self, assert_gone, container_id, decompress, logs, ok, podman, repo, ssh_and_podman, tail,
    text, Made,
};
use support::{free_port, have, retry_until_ok, ssh};

/// Generous: the test waits for the BMC, it does not time it.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

const CLUSTER_FILE: &str = "container/kube/ast-emu-bmc.yaml";
const PODMAN_FILE: &str = "container/kube/ast-emu-bmc-podman.yaml";
const IMAGE: &str = "localhost/ast-emu:latest";
/// The container's ports, by name: the BMC's SSH, HTTP and HTTPS (the image's AST_EMU_NIC).
const PORTS: [(&str, u64); 3] = [("ssh", 2222), ("http", 8080), ("https", 8443)];

/// A folder of its own under cargo's temporary folder.
fn scratch(name: &str) -> PathBuf {
    podman::scratch("kube", name)
}

// ---- The manifests' structure ----------------------------------------------------------------

/// The YAML documents of `file` (in the repository) as JSON values, parsed by python3's yaml
/// module; None (with a message) when that is missing.
fn documents(file: &str) -> Option<Vec<Value>> {
    let probe = Command::new("python3").args(["-c", "import yaml"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!(
            "SKIPPED: python3 with its yaml module is missing (apt-get install python3-yaml)"
        );
        return None;
    }
    let script = "import json, sys, yaml\n\
                  docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
                  print(json.dumps(docs))";
    let out = ok(Command::new("python3")
        .args(["-c", script])
        .arg(repo().join(file)));
    let docs: Value = serde_json::from_str(&out).unwrap();
    Some(docs.as_array().unwrap().clone())
}

/// The one document of `kind` named `name` (any name when None).
fn find<'a>(docs: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && name.is_none_or(|n| d["metadata"]["name"] == n))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name:?} in {docs:#?}");
    found[0]
}

fn string<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is a string: {v}"))
}

fn array<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is a list: {v}"))
}

/// Every label of `selector` is one of `labels`, and there is one at least.
fn assert_selects(selector: &Value, labels: &Value, what: &str) {
    let selector = selector
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {selector}"));
    assert!(!selector.is_empty(), "{what} selects something");
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "{what}: label {k} of the pods");
    }
}

/// A name Kubernetes accepts for a Service, a StatefulSet (whose pods add `-N`) or a port.
fn assert_dns_label(name: &str, max: usize) {
    assert!(
        !name.is_empty()
            && name.len() <= max
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-'),
        "{name:?} is a DNS label of at most {max} characters"
    );
}

/// The BMC container of a pod template: the image, its ports by name, the flash on /flash.
/// Returns the container.
fn check_bmc_container<'a>(template: &'a Value, pull: &str, what: &str) -> &'a Value {
    let containers = array(&template["spec"]["containers"], "containers");
    assert_eq!(containers.len(), 1, "{what}: one container");
    let c = &containers[0];
    assert_eq!(
        c["image"], IMAGE,
        "{what}: the image scripts/container-image builds"
    );
    assert_eq!(
        c["imagePullPolicy"], pull,
        "{what}: localhost/ is no registry"
    );
    let ports = array(&c["ports"], "ports");
    assert_eq!(ports.len(), PORTS.len(), "{what}: {ports:?}");
    for (name, number) in PORTS {
        let p = ports
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{what}: a port named {name}: {ports:?}"));
        assert_eq!(p["containerPort"], number, "{what}: port {name}");
        assert_dns_label(name, 15);
    }
    let mounts = array(&c["volumeMounts"], "volumeMounts");
    assert!(
        mounts.iter().any(|m| m["mountPath"] == "/flash"),
        "{what}: a volume on /flash: {mounts:?}"
    );
    let requests = &c["resources"]["requests"];
    assert!(
        requests["cpu"].is_string() && requests["memory"].is_string(),
        "{what}: CPU and memory requests: {requests}"
    );
    // Variables the emulator reads (its --help names them), with string values (Kubernetes
    // refuses a bare number or boolean there).
    let help = ok(Command::new(env!("CARGO_BIN_EXE_ast-emu")).arg("--help"));
    for e in c["env"].as_array().into_iter().flatten() {
        let name = string(&e["name"], "env name");
        assert!(
            help.contains(&format!("[env: {name}=")),
            "{what}: env {name} is none of ast-emu's"
        );
        assert!(
            e["value"].is_string(),
            "{what}: env {name} has a string value"
        );
    }
    c
}

fn port_names(container: &Value) -> Vec<&str> {
    array(&container["ports"], "ports")
        .iter()
        .map(|p| string(&p["name"], "port name"))
        .collect()
}

#[test]
fn cluster_manifest_is_a_statefulset_with_services() {
    let Some(docs) = documents(CLUSTER_FILE) else {
        return;
    };
    let mut kinds: Vec<&str> = docs.iter().map(|d| string(&d["kind"], "kind")).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["Service", "Service", "StatefulSet"],
        "{CLUSTER_FILE}"
    );
    for d in &docs {
        let want = if d["kind"] == "StatefulSet" {
            "apps/v1"
        } else {
            "v1"
        };
        assert_eq!(d["apiVersion"], want, "apiVersion of {}", d["kind"]);
        assert_dns_label(string(&d["metadata"]["name"], "name"), 63);
    }

    let sts = find(&docs, "StatefulSet", None);
    let name = string(&sts["metadata"]["name"], "name");
    // Pods are NAME-N and carry a controller-revision-hash label of NAME-HASH: keep room.
    assert_dns_label(name, 52);
    let spec = &sts["spec"];
    let template = &spec["template"];
    let labels = &template["metadata"]["labels"];
    assert_selects(&spec["selector"]["matchLabels"], labels, "the StatefulSet");
    let bmc = check_bmc_container(template, "IfNotPresent", CLUSTER_FILE);
    let named = port_names(bmc);
    for p in array(&bmc["ports"], "ports") {
        assert!(
            p.get("hostPort").is_none(),
            "no host ports on a cluster: {p}"
        );
    }

    // The governing Service is headless, publishes the BMCs booted or not, and has the
    // container's ports.
    let headless = find(
        &docs,
        "Service",
        Some(string(&spec["serviceName"], "serviceName")),
    );
    assert_eq!(headless["spec"]["clusterIP"], "None", "headless");
    assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
    assert_selects(
        &headless["spec"]["selector"],
        labels,
        "the headless Service",
    );
    let ports: Vec<(String, u64)> = array(&headless["spec"]["ports"], "ports")
        .iter()
        .map(|p| {
            (
                string(&p["name"], "name").into(),
                p["port"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = PORTS.iter().map(|(n, p)| (n.to_string(), *p)).collect();
    assert_eq!(ports, want, "the headless Service's ports");

    // The other one maps the BMC's own port numbers to the container's named ports.
    let other = docs
        .iter()
        .find(|d| d["kind"] == "Service" && d["spec"]["clusterIP"] != "None")
        .unwrap();
    assert_selects(&other["spec"]["selector"], labels, "the ports Service");
    let mut mapped: Vec<(u64, &str)> = array(&other["spec"]["ports"], "ports")
        .iter()
        .map(|p| {
            let target = string(&p["targetPort"], "targetPort");
            assert!(named.contains(&target), "{target} names a container port");
            (p["port"].as_u64().unwrap(), target)
        })
        .collect();
    mapped.sort();
    assert_eq!(mapped, [(22, "ssh"), (80, "http"), (443, "https")]);

    // The probes use ports the container has.
    for probe in ["readinessProbe", "livenessProbe"] {
        let p = &bmc[probe];
        let port = p["httpGet"]["port"]
            .as_str()
            .or(p["tcpSocket"]["port"].as_str())
            .unwrap_or_else(|| panic!("{probe} on a named port: {p}"));
        assert!(named.contains(&port), "{probe} port {port}");
    }

    // /flash is a claim per BMC.
    let mount = array(&bmc["volumeMounts"], "mounts")
        .iter()
        .find(|m| m["mountPath"] == "/flash")
        .unwrap();
    let claims = array(&spec["volumeClaimTemplates"], "volumeClaimTemplates");
    let claim = claims
        .iter()
        .find(|c| c["metadata"]["name"] == mount["name"])
        .unwrap_or_else(|| panic!("a claim template for {}", mount["name"]));
    assert!(claim["spec"]["resources"]["requests"]["storage"].is_string());
    assert!(
        template["spec"]["volumes"].is_null(),
        "no pod volume shadows the claim"
    );

    kubectl_dry_run();
}

/// `kubectl apply --dry-run=client` of the cluster file, where kubectl reaches a cluster
/// (it needs one for the API's schema); nothing is created.
fn kubectl_dry_run() {
    if !have("kubectl") {
        eprintln!("SKIPPED (part): kubectl is not installed; the structure was checked");
        return;
    }
    let reach = Command::new("kubectl")
        .args(["version", "--request-timeout=5s"])
        .output()
        .unwrap();
    if !reach.status.success() {
        eprintln!("SKIPPED (part): kubectl reaches no cluster; the structure was checked");
        return;
    }
    let out = ok(Command::new("kubectl")
        .args(["apply", "--dry-run=client", "--validate=strict", "-f"])
        .arg(repo().join(CLUSTER_FILE)));
    eprintln!("kubectl apply --dry-run=client:\n{out}");
}

#[test]
fn podman_manifest_holds_the_same_bmc() {
    let (Some(cluster), Some(docs)) = (documents(CLUSTER_FILE), documents(PODMAN_FILE)) else {
        return;
    };
    // A kind podman 4.3 plays (it skips StatefulSets and Services), and no claim: podman
    // would refuse to play the file again once the volume exists.
    assert_eq!(docs.len(), 1, "{PODMAN_FILE}: one document");
    let pod = &docs[0];
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["apiVersion"], "v1");
    let sts = find(&cluster, "StatefulSet", None);
    let sts_name = string(&sts["metadata"]["name"], "name");
    let template = &sts["spec"]["template"];
    assert_eq!(
        pod["metadata"]["name"],
        format!("{sts_name}-0"),
        "the first BMC's pod"
    );
    assert_eq!(pod["metadata"]["labels"], template["metadata"]["labels"]);
    let bmc = check_bmc_container(pod, "Never", PODMAN_FILE);

    // Published on the host, at the container's own port numbers, on 127.0.0.1.
    for p in array(&bmc["ports"], "ports") {
        assert_eq!(p["hostPort"], p["containerPort"], "{p}");
        assert_eq!(p["hostIP"], "127.0.0.1", "{p}");
    }
    // No probes: podman would run `nc` for them inside an image that has none.
    assert!(bmc["livenessProbe"].is_null() && bmc["readinessProbe"].is_null());

    // Everything else is the cluster's container and pod.
    let mut ours = bmc.clone();
    for p in ours["ports"].as_array_mut().unwrap() {
        let p = p.as_object_mut().unwrap();
        p.remove("hostPort");
        p.remove("hostIP");
    }
    let ours = ours.as_object_mut().unwrap();
    ours.remove("imagePullPolicy");
    let mut theirs = check_bmc_container(template, "IfNotPresent", CLUSTER_FILE).clone();
    let theirs = theirs.as_object_mut().unwrap();
    for key in ["livenessProbe", "readinessProbe", "imagePullPolicy"] {
        theirs.remove(key);
    }
    assert_eq!(
        ours, theirs,
        "the two files' containers differ beyond the documented"
    );
    let mut pod_spec = pod["spec"].as_object().unwrap().clone();
    let mut template_spec = template["spec"].as_object().unwrap().clone();
    pod_spec.remove("containers");
    template_spec.remove("containers");
    let volumes = pod_spec.remove("volumes").expect("the Pod has volumes");
    assert_eq!(pod_spec, template_spec, "the same pod settings");

    // /flash is the claim the StatefulSet makes for its first BMC.
    let claim = format!(
        "{}-{sts_name}-0",
        string(
            &sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
            "claim"
        )
    );
    let mount = array(&bmc["volumeMounts"], "mounts")
        .iter()
        .find(|m| m["mountPath"] == "/flash")
        .unwrap();
    let volumes = array(&volumes, "volumes");
    let volume = volumes
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("a volume for the /flash mount: {volumes:?}"));
    assert_eq!(volume["persistentVolumeClaim"]["claimName"], claim);
}

// ---- podman kube play ------------------------------------------------------------------------

/// The Podman file rewritten for one test: the image of the binary under test, names of the
/// test's own (so that it runs beside a BMC played from the repository's file) and free host
/// ports.
struct Bmc {
    manifest: PathBuf,
    name: String,
    /// The pod, as the StatefulSet would name its first: NAME-0.
    pod: String,
    /// podman kube play names a pod's containers POD-CONTAINER.
    container: String,
    volume: String,
    ssh: u16,
    http: u16,
    https: u16,
}

/// Replaces the one `from` in `s` with `to`; panics unless there is exactly one.
fn replace_one(s: &str, from: &str, to: &str) -> String {
    assert_eq!(s.matches(from).count(), 1, "{from:?} in {PODMAN_FILE}");
    s.replace(from, to)
}

impl Made {
    /// Builds the image from the binary under test with scripts/container-image, as
    /// tests/container.rs does; returns its name.
    fn image(&mut self, tag: &str) -> String {
        self.build_image(&format!("kube-{tag}"), scratch(&format!("{tag}-staging")))
    }

    /// The Podman file for this test, with `image` and AST_EMU_PERSIST set to `persist`.
    fn bmc(&mut self, tag: &str, image: &str, persist: &str) -> Bmc {
        let name = format!("ast-emu-kube-{tag}-{}", std::process::id());
        let (ssh, http, https) = (free_port(), free_port(), free_port());
        let yaml = std::fs::read_to_string(repo().join(PODMAN_FILE)).unwrap();
        let yaml = replace_one(
            &yaml,
            &format!("image: {IMAGE}"),
            &format!("image: {image}"),
        );
        let yaml = replace_one(&yaml, "hostPort: 2222,", &format!("hostPort: {ssh},"));
        let yaml = replace_one(&yaml, "hostPort: 8080,", &format!("hostPort: {http},"));
        let yaml = replace_one(&yaml, "hostPort: 8443,", &format!("hostPort: {https},"));
        let yaml = replace_one(
            &yaml,
            "{name: AST_EMU_PERSIST, value: \"0\"}",
            &format!("{{name: AST_EMU_PERSIST, value: \"{persist}\"}}"),
        );
        let yaml = yaml.replace("ast-emu-bmc", &name);
        let dir = scratch(&format!("{tag}-manifest"));
        self.dirs.push(dir.clone());
        let manifest = dir.join("bmc.yaml");
        std::fs::write(&manifest, &yaml).unwrap();
        self.manifests.push(manifest.clone());
        let volume = format!("flash-{name}-0");
        self.volumes.push(volume.clone());
        let pod = format!("{name}-0");
        Bmc {
            manifest,
            container: format!("{pod}-bmc"),
            pod,
            name,
            volume,
            ssh,
            http,
            https,
        }
    }
}

/// `podman kube play`: the pod runs, with the flash volume on /flash and the memory limit.
fn play(bmc: &Bmc) {
    ok(podman().args(["kube", "play"]).arg(&bmc.manifest));
    let pods = ok(podman().args(["pod", "ps", "--format", "{{.Name}} {{.Status}}"]));
    assert!(
        pods.lines().any(|l| l == format!("{} Running", bmc.pod)),
        "pods:\n{pods}"
    );
    let mounts = ok(podman().args([
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}",
        &bmc.container,
    ]));
    assert!(
        mounts.contains(&format!("{}:/flash", bmc.volume)),
        "the claim's volume is on /flash: {mounts}"
    );
    // Podman applies the memory limit (and ignores the CPU request).
    let memory = ok(podman().args([
        "inspect",
        "--format",
        "{{.HostConfig.Memory}}",
        &bmc.container,
    ]));
    assert_eq!(memory.trim(), (1u64 << 30).to_string(), "the memory limit");
}

/// Runs `cmd` over SSH until it succeeds; panics with the console if it never does.
fn ssh_when_up(bmc: &Bmc, cmd: &str) -> String {
    let out = retry_until_ok(BOOT_TIMEOUT, || ssh(bmc.ssh, "ast-emu", cmd));
    assert!(
        out.status.success(),
        "ssh through the published port: {}{}\nconsole tail:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        tail(&logs(&bmc.container))
    );
    text(&out.stdout)
}

/// `podman pod stop`: SIGTERM, and the emulator quits cleanly (exit code 0, where SIGKILL
/// would give 137). With 30 s before the SIGKILL rather than the container's 10 (podman 4.3
/// ignores terminationGracePeriodSeconds): the exit writes the 64 MiB image back, which a
/// busy machine may make slow. It takes about a second.
fn stop(bmc: &Bmc) {
    let t = Instant::now();
    ok(podman().args(["pod", "stop", "-t", "30", &bmc.pod]));
    let took = t.elapsed();
    let log = logs(&bmc.container);
    let code = ok(podman().args(["inspect", "--format", "{{.State.ExitCode}}", &bmc.container]));
    assert_eq!(
        code.trim(),
        "0",
        "exit code after {took:?}; log tail:\n{}",
        tail(&log)
    );
    assert!(
        log.contains("SIGTERM; quitting"),
        "log tail:\n{}",
        tail(&log)
    );
    eprintln!("podman pod stop: {:.2} s", took.as_secs_f64());
}

/// `podman kube down`: the pod and its containers are gone, no process of theirs is left,
/// their ports are closed; the flash volume stays.
fn down(bmc: &Bmc) {
    let id = container_id(&bmc.container);
    let t = Instant::now();
    ok(podman().args(["kube", "down"]).arg(&bmc.manifest));
    eprintln!("podman kube down: {:.2} s", t.elapsed().as_secs_f64());
    let pods = ok(podman().args(["pod", "ps", "--format", "{{.Name}}"]));
    assert!(
        !pods.contains(&bmc.name),
        "podman pod ps still lists {}:\n{pods}",
        bmc.pod
    );
    let ports = [bmc.ssh, bmc.http, bmc.https];
    assert_gone(&id, &bmc.name, "the pod's containers", &ports);
    assert!(volumes().contains(&bmc.volume), "the flash volume stays");
}

fn volumes() -> Vec<String> {
    ok(podman().args(["volume", "ls", "--format", "{{.Name}}"]))
        .lines()
        .map(String::from)
        .collect()
}

/// Removes the flash volume, and checks it is gone.
fn remove_volume(bmc: &Bmc) {
    ok(podman().args(["volume", "rm", &bmc.volume]));
    let left = volumes();
    assert!(!left.contains(&bmc.volume), "volumes left: {left:?}");
}

#[test]
fn podman_kube_play_starts_a_bmc_reachable_over_ssh() {
    if !ssh_and_podman() {
        return;
    }
    let mut made = Made::default();
    let image = made.image("builtin");
    let bmc = made.bmc("builtin", &image, "0");

    let t0 = Instant::now();
    play(&bmc);
    // The guest's own words: its machine and the built-in image's host name.
    let said = ssh_when_up(&bmc, "uname -m; cat /etc/hostname");
    let t_ssh = t0.elapsed();
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        ["armv7l", "ast-emu-bmc"],
        "uname -m; cat /etc/hostname over ssh"
    );
    let log = logs(&bmc.container);
    assert!(
        log.contains("no /flash/image.mtd; booting the built-in image"),
        "{}",
        tail(&log)
    );
    if have("curl") {
        let url = format!("http://127.0.0.1:{}/cgi-bin/status", bmc.http);
        let out = retry_until_ok(Duration::from_secs(60), || {
            Command::new("curl")
                .args(["-sf", "-m", "10", &url])
                .output()
                .unwrap()
        });
        assert!(
            text(&out.stdout).contains("<h1>ast-emu-bmc</h1>"),
            "the status page through the published port: {:?}",
            text(&out.stdout)
        );
    }
    let memory = ok(podman().args([
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}",
        &bmc.container,
    ]));
    eprintln!(
        "podman kube play to an SSH login: {:.1} s; memory {}",
        t_ssh.as_secs_f64(),
        memory.trim()
    );
    // Straight down, as the file's users may: nothing to write back here.
    down(&bmc);
    remove_volume(&bmc);
}

#[test]
fn an_image_in_the_flash_volume_boots_and_persists() {
    if !ssh_and_podman() {
        return;
    }
    let mut made = Made::default();
    let image = made.image("persist");
    let bmc = made.bmc("persist", &image, "1");

    // The project's image into the volume before the first play, as the file says.
    let dir = scratch("persist-image");
    made.dirs.push(dir.clone());
    decompress(
        &repo().join("firmware-fixtures/ast2600-evb.img.xz"),
        &dir.join("image.mtd"),
    );
    ok(Command::new("tar")
        .args(["-cf", "flash.tar", "image.mtd"])
        .current_dir(&dir));
    ok(podman().args(["volume", "create", &bmc.volume]));
    ok(podman()
        .args(["volume", "import", &bmc.volume])
        .arg(dir.join("flash.tar")));
    let mountpoint = ok(podman().args([
        "volume",
        "inspect",
        "--format",
        "{{.Mountpoint}}",
        &bmc.volume,
    ]));
    let mtd = Path::new(mountpoint.trim()).join("image.mtd");
    let before = std::fs::read(&mtd).unwrap();

    let t0 = Instant::now();
    play(&bmc);
    ssh_when_up(&bmc, "echo kept-by-persist > /root/note; sync");
    eprintln!(
        "the volume's image: podman kube play to an SSH login {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(logs(&bmc.container).contains("ast-emu: booting /flash/image.mtd"));
    // Stop first: podman 4.3's kube down would SIGKILL it, and nothing would be written.
    stop(&bmc);
    assert_ne!(
        std::fs::read(&mtd).unwrap(),
        before,
        "the guest's write is in the volume's image"
    );
    down(&bmc);

    // The next play boots what was written.
    play(&bmc);
    let note = ssh_when_up(&bmc, "cat /root/note");
    assert_eq!(note.trim(), "kept-by-persist");
    stop(&bmc);
    down(&bmc);
    remove_volume(&bmc);
}
