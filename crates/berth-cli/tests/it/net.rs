//! Bridge networks: names and aliases, published ports, internal networks, IPAM under
//! concurrency, and that nothing a container set up outlives it. Traffic stays on this
//! machine: containers talk to each other, to the host's own addresses, and to an
//! address the test puts on a dummy interface of its own.

use crate::common::{sh, Ctx};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

fn container(c: &Ctx, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(
        &c.berth(&["inspect", "--type", "container", name])
            .ok()
            .stdout(),
    )
    .unwrap();
    v[0].clone()
}

fn network(c: &Ctx, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&c.berth(&["network", "inspect", name]).ok().stdout()).unwrap();
    v[0].clone()
}

/// An HTTP GET from the host; the body, or None if nothing answered.
pub(crate) fn http_get(addr: Ipv4Addr, port: u16, path: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(mut s) = TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(2))
        {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            if !out.is_empty() {
                return Some(out);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's first non-loopback IPv4 address.
fn host_address() -> Option<Ipv4Addr> {
    let out = sh("ip -4 -o addr show scope global");
    out.lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .find(|a: &Ipv4Addr| !a.is_loopback() && !a.octets().starts_with(&[10, 88]))
}

#[test]
fn names_aliases_ports_and_rm_refusal() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "front"]).ok();
    c.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "-p",
        "80",
        "-p",
        "127.0.0.1::8080",
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ])
    .ok();
    c.berth(&[
        "run",
        "-d",
        "--name",
        "web2",
        "--network",
        "front",
        "bb",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/etc",
    ])
    .ok();
    // By name and by alias, from another container on the network.
    let out = c
        .berth(&[
            "run", "--rm", "--network", "front", "bb", "sh", "-c",
            "ping -c 1 -W 2 web >/dev/null && echo ping-ok; wget -qO- http://www/passwd; wget -qO- http://web/group",
        ])
        .ok()
        .stdout();
    assert!(out.contains("ping-ok"), "{out}");
    assert!(out.contains("root:x:0:0"), "{out}");
    assert!(out.contains("root:x:0:"), "{out}");
    // With its own DNS server (--dns), a container still finds the others by name, and
    // its other queries go to that server (a stub on the host answering everything).
    let stub = std::net::UdpSocket::bind("127.0.0.77:53").expect("bind a stub DNS server");
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, from)) = stub.recv_from(&mut b) {
            let _ = stub.send_to(&stub_dns_answer(&b[..n], [10, 11, 12, 13]), from);
        }
    });
    let out = c
        .berth(&[
            "run",
            "--rm",
            "--network",
            "front",
            "--dns",
            "127.0.0.77",
            "bb",
            "sh",
            "-c",
            "ping -c 1 -W 2 web >/dev/null && echo ping-ok; ping -c 1 -W 1 elsewhere.test",
        ])
        .stdout();
    assert!(out.contains("ping-ok"), "{out}");
    assert!(out.contains("elsewhere.test (10.11.12.13)"), "{out}");

    // The random host port, from the host: on 127.0.0.1 and on the host's own address.
    let ports = c.berth(&["port", "web"]).ok().stdout();
    let host_port: u16 = c
        .berth(&["port", "web", "80"])
        .ok()
        .stdout()
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{host_port}")),
        "{ports}"
    );
    let body = http_get(Ipv4Addr::LOCALHOST, host_port, "/passwd").expect("answer on 127.0.0.1");
    assert!(body.contains("root:x:0:0"), "{body}");
    if let Some(a) = host_address() {
        let body = http_get(a, host_port, "/group").expect("answer on the host's address");
        assert!(body.contains("root:x:0:"), "{body}");
    }
    // 127.0.0.1::8080 is published on loopback only; the container's own 8080 has no
    // server, so the connection is refused rather than answered.
    let lo_port: u16 = c
        .berth(&["port", "web", "8080"])
        .ok()
        .stdout()
        .trim()
        .strip_prefix("127.0.0.1:")
        .expect("bound to 127.0.0.1")
        .parse()
        .unwrap();
    assert_ne!(lo_port, host_port);

    // Addresses are in the network's subnet and distinct.
    let n = network(&c, "front");
    let subnet = n["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = subnet.rsplit_once('.').unwrap().0.to_string();
    let a1 = container(&c, "web")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let a2 = container(&c, "web2")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(a1.starts_with(&prefix) && a2.starts_with(&prefix) && a1 != a2);

    // In use: refused, with who uses it and what to do.
    c.berth(&["network", "rm", "front"])
        .fails_with("in use by container(s)");
    c.berth(&["rm", "-f", "web", "web2"]).ok();
    c.berth(&["network", "rm", "front"]).ok();
    let bridge = n["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    // A published host port another container holds is refused clearly.
    c.berth(&[
        "run",
        "-d",
        "--name",
        "p1",
        "-p",
        "127.0.0.1::80",
        "bb",
        "sleep",
        "30",
    ])
    .ok();
    let taken = c
        .berth(&["port", "p1", "80"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    let hp = taken.rsplit(':').next().unwrap();
    c.berth(&["run", "--rm", "-p", &format!("{hp}:80"), "bb", "true"])
        .fails_with("already published");
}

/// An empty bridge with an address of the test's own: "outside" the networks, but
/// on this machine.
struct Outside {
    link: String,
    addr: Ipv4Addr,
}

impl Outside {
    fn new() -> Outside {
        let r: u32 = rand_u32();
        let link = format!("btst{:x}", r & 0xffff);
        let addr = Ipv4Addr::new(198, 18, (r >> 16) as u8, ((r >> 24) as u8).clamp(1, 254));
        sh(&format!(
            "ip link add {link} type bridge && ip addr add {addr}/32 dev {link} && ip link set {link} up"
        ));
        Outside { link, addr }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
    }
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    t ^ (std::process::id() << 8)
}

#[test]
fn internal_networks_have_no_way_out_and_none_has_loopback_only() {
    let c = Ctx::new();
    c.busybox("bb");
    let out = Outside::new();
    let listener = TcpListener::bind((out.addr, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let mut s = s;
            let _ = s.write_all(b"hello-from-outside\n");
        }
    });
    let probe = format!("nc -w 2 {} {port} </dev/null", out.addr);
    // The default network reaches it (through the gateway, as the internet would be).
    let r = c.berth(&["run", "--rm", "bb", "sh", "-c", &probe]).ok();
    assert!(r.stdout().contains("hello-from-outside"), "{}", r.stdout());
    // An internal network does not, but its containers reach each other.
    c.berth(&["network", "create", "--internal", "sealed"]).ok();
    c.berth(&[
        "run",
        "-d",
        "--name",
        "inner",
        "--network",
        "sealed",
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ])
    .ok();
    let r = c.berth(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "bb",
        "sh",
        "-c",
        &format!("{probe}; echo; wget -qO- http://inner/passwd"),
    ]);
    assert!(!r.stdout().contains("hello-from-outside"), "{}", r.stdout());
    assert!(
        r.stdout().contains("root:x:0:0"),
        "{}\n{}",
        r.stdout(),
        r.stderr()
    );
    // Not even with a route added by hand (the nftables rules drop it).
    let r = c.berth(&[
        "run", "--rm", "--network", "sealed", "--cap-add", "NET_ADMIN", "bb", "sh", "-c",
        &format!(
            "ip route add default via $(ip route | sed -n 's/.* src \\([0-9.]*\\).*/\\1/p' | cut -d. -f1-3).1; {probe}"
        ),
    ]);
    assert!(!r.stdout().contains("hello-from-outside"), "{}", r.stdout());
    // --network none: loopback only.
    let links = c
        .berth(&["run", "--rm", "--network", "none", "bb", "ip", "-o", "link"])
        .ok()
        .stdout();
    assert_eq!(links.lines().count(), 1, "{links}");
    let r = c.berth(&["run", "--rm", "--network", "none", "bb", "sh", "-c", &probe]);
    assert!(!r.stdout().contains("hello-from-outside"));
}

#[test]
fn parallel_starts_get_distinct_addresses_and_reach_each_other() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "many"]).ok();
    const N: usize = 20;
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let mut cmd = c.cmd(&[
                "run",
                "-d",
                "--name",
                &format!("m{i}"),
                "--network",
                "many",
                "bb",
                "sleep",
                "120",
            ]);
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    for h in handles {
        let o = h.join().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let addrs: BTreeSet<String> = (0..N)
        .map(|i| {
            container(&c, &format!("m{i}"))["NetworkSettings"]["IPAddress"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(addrs.len(), N, "{addrs:?}");
    // Each one reaches every other by name.
    let names: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    let script = format!(
        "for n in {}; do ping -c 1 -W 2 $n >/dev/null || echo unreachable $n; done; echo done",
        names.join(" ")
    );
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let mut cmd = c.cmd(&["exec", &format!("m{i}"), "sh", "-c", &script]);
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let o = h.join().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("done") && !out.contains("unreachable"),
            "m{i}: {out}"
        );
    }
    assert_eq!(
        network(&c, "many")["Containers"].as_object().unwrap().len(),
        N
    );
}

#[test]
fn the_bridge_keeps_its_mac_address_as_containers_come_and_go() {
    // A bridge without an address of its own takes its lowest port's and changes it as
    // veths come and go; the other containers' neighbour entries for the gateway then
    // point nowhere, and their DNS queries were lost for ~5 s (seen as `compose down`
    // waiting on a gunicorn worker stuck in a lookup).
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "steady"]).ok();
    let sys = |bridge: &str, f: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{bridge}/{f}"))
            .unwrap()
            .trim()
            .to_string()
    };
    let run = |name: &str| {
        c.berth(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "steady",
            "bb",
            "sleep",
            "60",
        ])
        .ok();
    };
    run("s0");
    let n = network(&c, "steady");
    let bridge = n["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap()
        .to_string();
    let gw = n["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let mac = sys(&bridge, "address");
    assert_eq!(
        sys(&bridge, "addr_assign_type"),
        "3",
        "the bridge's MAC is set, not inherited"
    );
    for i in 1..6 {
        run(&format!("s{i}"));
        assert_eq!(sys(&bridge, "address"), mac, "after s{i} started");
    }
    for i in 0..5 {
        c.berth(&["rm", "-f", &format!("s{i}")]).ok();
        assert_eq!(sys(&bridge, "address"), mac, "after s{i} went");
    }
    // The one left still reaches the gateway (its neighbour entry is still right).
    c.berth(&["exec", "s5", "ping", "-c", "1", "-W", "2", &gw])
        .ok();
}

/// What the host holds for `ids` on bridge `bridge`: links, nftables rules, namespaces.
fn host_state(c: &Ctx, bridge: &str, ids: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let links: Vec<String> = sh("ip -o link")
        .lines()
        .filter_map(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap().to_string())
        })
        .filter(|n| {
            n == bridge
                || ids
                    .iter()
                    .any(|id| n.starts_with(&format!("vb{}", &id[..8])))
        })
        .collect();
    // A user network's bridge is br-<first 12 of its id>; its rules carry the id.
    let net_id = bridge.trim_start_matches("br-");
    let rules: Vec<String> = sh("nft list ruleset")
        .lines()
        .filter(|l| {
            l.contains(bridge) || l.contains(net_id) || ids.iter().any(|id| l.contains(id.as_str()))
        })
        .map(|l| l.trim().to_string())
        .collect();
    let netns = c.root().join("netns");
    let ns: Vec<String> = std::fs::read_dir(&netns)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default();
    (links, rules, ns)
}

#[test]
fn nothing_leaks_after_kill_9_of_monitors() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "leaky"]).ok();
    let bridge = network(&c, "leaky")["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap()
        .to_string();
    let id = |name: &str| container(&c, name)["Id"].as_str().unwrap().to_string();
    let before = host_state(&c, &bridge, &[]);
    for n in ["a", "b", "d"] {
        c.berth(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "leaky",
            "-p",
            "80",
            "-p",
            "53/udp",
            "bb",
            "sleep",
            "120",
        ])
        .ok();
    }
    let ids = vec![id("a"), id("b"), id("d")];
    let during = host_state(&c, &bridge, &ids);
    assert_eq!(
        during.0.len(),
        before.0.len() + 3,
        "three veths: {during:?}"
    );
    assert_eq!(
        during.1.len(),
        before.1.len() + 6,
        "six DNAT rules: {during:?}"
    );
    assert_eq!(during.2.len(), 3, "three namespaces: {during:?}");
    // a: monitor killed, then rm -f. b: monitor and container killed (a crash), then
    // system prune. d: a plain rm -f.
    let m = container(&c, "a")["State"]["MonitorPid"].as_i64().unwrap();
    sh(&format!("kill -9 {m}"));
    let s = container(&c, "b")["State"].clone();
    sh(&format!("kill -9 {} {}", s["MonitorPid"], s["Pid"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(host_state(&c, &bridge, &ids).0.len(), during.0.len());
    c.berth(&["rm", "-f", "a"]).ok();
    c.berth(&["system", "prune", "-f"]).ok();
    c.berth(&["rm", "-f", "d"]).ok();
    assert!(c.berth(&["ps", "-aq"]).ok().stdout().trim().is_empty());
    // Rules, records and namespaces go at once; veths of stopped containers are removed
    // in the background (ADR 0031): allow them a moment.
    let until = Instant::now() + Duration::from_secs(3);
    let mut after = host_state(&c, &bridge, &ids);
    while after != before && Instant::now() < until {
        assert_eq!((&before.1, &before.2), (&after.1, &after.2));
        std::thread::sleep(Duration::from_millis(50));
        after = host_state(&c, &bridge, &ids);
    }
    assert_eq!(before, after);
    assert!(network(&c, "leaky")["Containers"]
        .as_object()
        .unwrap()
        .is_empty());
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    c.berth(&["network", "rm", "leaky"]).ok();
    let gone = host_state(&c, &bridge, &ids);
    assert!(gone.0.is_empty() && gone.1.is_empty(), "{gone:?}");
}

#[test]
fn connect_disconnect_and_fixed_address() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "one"]).ok();
    c.berth(&["network", "create", "two"]).ok();
    let subnet = network(&c, "two")["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    let fixed = format!("{}.50", subnet.rsplit_once('.').unwrap().0);
    c.berth(&[
        "run",
        "-d",
        "--name",
        "x",
        "--network",
        "one",
        "bb",
        "sleep",
        "60",
    ])
    .ok();
    c.berth(&[
        "run",
        "-d",
        "--name",
        "y",
        "--network",
        "two",
        "--ip",
        &fixed,
        "bb",
        "sleep",
        "60",
    ])
    .ok();
    assert_eq!(
        container(&c, "y")["NetworkSettings"]["IPAddress"],
        fixed.as_str()
    );
    // The same address again is refused, with what to do.
    c.berth(&[
        "run",
        "--rm",
        "--network",
        "two",
        "--ip",
        &fixed,
        "bb",
        "true",
    ])
    .fails_with("already in use");
    // x cannot reach y until it joins y's network (eth1), by y's name or x's new alias.
    assert_ne!(
        c.berth(&["exec", "x", "ping", "-c", "1", "-W", "1", "y"])
            .code(),
        0
    );
    c.berth(&["network", "connect", "--alias", "xx", "two", "x"])
        .ok();
    let addrs = c
        .berth(&["exec", "x", "ip", "-o", "-4", "addr"])
        .ok()
        .stdout();
    assert!(addrs.contains("eth1"), "{addrs}");
    c.berth(&["exec", "x", "ping", "-c", "1", "-W", "2", "y"])
        .ok();
    c.berth(&["exec", "y", "ping", "-c", "1", "-W", "2", "xx"])
        .ok();
    c.berth(&["network", "disconnect", "two", "x"]).ok();
    let addrs = c
        .berth(&["exec", "x", "ip", "-o", "-4", "addr"])
        .ok()
        .stdout();
    assert!(!addrs.contains("eth1"), "{addrs}");
    assert_ne!(
        c.berth(&["exec", "y", "ping", "-c", "1", "-W", "1", "xx"])
            .code(),
        0
    );
}

#[test]
fn missing_nft_is_a_clear_error_and_leaves_nothing() {
    let c = Ctx::new();
    let bin = c.root().join("only-ip");
    std::fs::create_dir_all(&bin).unwrap();
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("iproute2 is installed");
    std::os::unix::fs::symlink(ip, bin.join("ip")).unwrap();
    let out = c
        .cmd(&["network", "create", "nonft"])
        .env("PATH", &bin)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot run nft") && err.contains("install nftables"),
        "{err}"
    );
    assert!(c
        .berth(&["network", "ls", "-q"])
        .ok()
        .stdout()
        .trim()
        .is_empty());
}

#[test]
fn udp_ports_are_published() {
    let c = Ctx::new();
    c.probe("probe");
    c.berth(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        "127.0.0.1::7/udp",
        "probe",
        "probe",
        "udp-echo",
        "7",
    ])
    .ok();
    let port: u16 = c
        .berth(&["port", "echo", "7/udp"])
        .ok()
        .stdout()
        .trim()
        .strip_prefix("127.0.0.1:")
        .expect("published on 127.0.0.1")
        .parse()
        .unwrap();
    let s = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        s.send_to(b"hi", (Ipv4Addr::LOCALHOST, port)).unwrap();
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no UDP answer through the published port"
        );
    };
    assert_eq!(got, "echo:hi");
    // TCP on the same number is not published.
    assert!(c.berth(&["port", "echo", "7/tcp"]).code() != 0);
}

#[test]
fn publish_all_add_host_and_hostname() {
    let c = Ctx::new();
    let tar = crate::common::busybox_tar();
    c.berth(&[
        "import",
        "-q",
        "-c",
        "EXPOSE 80",
        "-c",
        "EXPOSE 8125/udp",
        tar.to_str().unwrap(),
        "exp",
    ])
    .ok();
    c.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "-P",
        "--hostname",
        "webhost",
        "exp",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ])
    .ok();
    let ports = c.berth(&["port", "web"]).ok().stdout();
    assert_eq!(ports.lines().count(), 2, "{ports}");
    assert!(ports.contains("80/tcp -> 0.0.0.0:"), "{ports}");
    assert!(ports.contains("8125/udp -> 0.0.0.0:"), "{ports}");
    let hp: u16 = c
        .berth(&["port", "web", "80"])
        .ok()
        .stdout()
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let body = http_get(Ipv4Addr::LOCALHOST, hp, "/passwd").expect("-P answers");
    assert!(body.contains("root:x:0:0"), "{body}");
    let gw = container(&c, "web")["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let out = c
        .berth(&[
            "run",
            "--rm",
            "--add-host",
            "db.example:192.0.2.7",
            "--add-host",
            "hostbox:host-gateway",
            "exp",
            "sh",
            "-c",
            "cat /etc/hosts; ping -c 1 -W 2 webhost >/dev/null && echo by-hostname",
        ])
        .ok()
        .stdout();
    assert!(out.contains("192.0.2.7\tdb.example"), "{out}");
    assert!(out.contains(&format!("{gw}\thostbox")), "{out}");
    assert!(out.contains("by-hostname"), "{out}");
    // The host by the names podman and Docker Desktop give it, on the gateway: a server
    // on the host's 0.0.0.0 answers there (guides written on Docker Desktop use it).
    assert!(
        out.contains(&format!(
            "{gw}\thost.containers.internal host.docker.internal"
        )),
        "{out}"
    );
    let l = std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b);
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nfrom-host")
            .unwrap();
    });
    let got = c
        .berth(&[
            "run",
            "--rm",
            "exp",
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://host.docker.internal:{port}/"),
        ])
        .ok()
        .stdout();
    server.join().unwrap();
    assert_eq!(got, "from-host");
    // Not on an internal network (the host answers DNS only there), and a name the user
    // gives wins.
    c.berth(&["network", "create", "--internal", "shut"]).ok();
    let out = c
        .berth(&[
            "run",
            "--rm",
            "--network",
            "shut",
            "--add-host",
            "host.docker.internal:192.0.2.9",
            "exp",
            "cat",
            "/etc/hosts",
        ])
        .ok()
        .stdout();
    assert!(!out.contains("host.containers.internal"), "{out}");
    assert_eq!(out.matches("host.docker.internal").count(), 1, "{out}");
    assert!(out.contains("192.0.2.9\thost.docker.internal"), "{out}");
}

/// The network's DNS over TCP (where resolvers retry after a truncated UDP answer), asked
/// from the host on the gateway address: it knows the network's names.
#[test]
fn dns_answers_over_tcp_too() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "tcpdns"]).ok();
    c.berth(&[
        "run",
        "-d",
        "--name",
        "named",
        "--network",
        "tcpdns",
        "bb",
        "sleep",
        "60",
    ])
    .ok();
    let gw: Ipv4Addr = network(&c, "tcpdns")["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let want: Ipv4Addr = container(&c, "named")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5];
    q.extend_from_slice(b"named");
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let reply = loop {
        let attempt = (|| -> std::io::Result<Vec<u8>> {
            let mut s = TcpStream::connect_timeout(&(gw, 53).into(), Duration::from_secs(1))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(&[&(q.len() as u16).to_be_bytes()[..], &q].concat())?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len)?;
            let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut r)?;
            Ok(r)
        })();
        match attempt {
            Ok(r) => break r,
            Err(e) if Instant::now() > deadline => panic!("no DNS answer over TCP: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert_eq!(&reply[..2], &[0x42, 0x42]);
    assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "one answer");
    assert_eq!(&reply[reply.len() - 4..], &want.octets());
}

/// `compose down -v` then `up` at once: the network is removed and made again with the
/// same gateway while the old network's DNS server still holds port 53 (it notices and
/// exits within half a second). The new network must still get a server of its own. The
/// test holds the port itself for that half second, which makes the race certain.
#[test]
fn a_network_made_again_at_once_gets_its_own_dns() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "again"]).ok();
    let gw: Ipv4Addr = network(&c, "again")["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .expect("a gateway")
        .parse()
        .unwrap();
    let stale = std::net::UdpSocket::bind((gw, 53)).expect("bind the gateway's port 53");
    for n in ["a", "b"] {
        c.berth(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "again",
            "bb",
            "sleep",
            "60",
        ])
        .ok();
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(stale);
    std::thread::sleep(Duration::from_millis(500));
    let r = c.berth(&[
        "exec",
        "a",
        "sh",
        "-c",
        "ping -c 1 -W 2 b >/dev/null && echo resolved",
    ]);
    assert!(
        r.stdout().contains("resolved"),
        "{}{}",
        r.stdout(),
        r.stderr()
    );
    c.berth(&["rm", "-f", "a", "b"]).ok();
}

/// A subnet whose address sits on a host interface that is down (so it has no route: a
/// bridge left by a deleted store, say) is not picked for a new network.
#[test]
fn new_network_skips_addresses_on_down_interfaces() {
    let c = Ctx::new();
    c.berth(&["network", "create", "probe"]).ok();
    let subnet = network(&c, "probe")["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    c.berth(&["network", "rm", "probe"]).ok();
    let dummy = format!("bdown{}", std::process::id() % 100_000);
    let addr = format!("{}.1/24", subnet.rsplit_once('.').unwrap().0);
    sh(&format!(
        "ip link add {dummy} type bridge && ip addr add {addr} dev {dummy}"
    ));
    let picked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.berth(&["network", "create", "after"]).ok();
        network(&c, "after")["IPAM"]["Config"][0]["Subnet"]
            .as_str()
            .unwrap()
            .to_string()
    }));
    sh(&format!("ip link del {dummy}"));
    let picked = picked.unwrap();
    assert_ne!(
        picked, subnet,
        "{subnet} is on {dummy} (down), yet it was picked"
    );
    c.berth(&["network", "rm", "after"]).ok();
}

/// `system reset` removes what a store made on the host (bridges, rules, network
/// namespaces, mounts, cgroups) along with its files; without a terminal it wants --force.
#[test]
fn system_reset_removes_host_state_and_files() {
    let c = Ctx::new();
    c.busybox("bb");
    c.berth(&["network", "create", "resetnet"]).ok();
    let bridge = format!(
        "br-{}",
        &network(&c, "resetnet")["Id"].as_str().unwrap()[..12]
    );
    let id = c
        .berth(&[
            "run",
            "-d",
            "--network",
            "resetnet",
            "-v",
            "data:/data",
            "-p",
            "127.0.0.1::80",
            "bb",
            "sleep",
            "600",
        ])
        .ok()
        .stdout()
        .trim()
        .to_string();
    let before = host_state(&c, &bridge, std::slice::from_ref(&id));
    assert!(!before.0.is_empty() && !before.1.is_empty(), "{before:?}");
    let r = c.berth(&["system", "reset"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("--force"), "{}", r.stderr());
    assert_eq!(c.berth(&["ps", "-q"]).ok().stdout().trim(), &id[..12]);
    let r = c.berth(&["system", "reset", "--force"]).ok();
    assert!(r.stdout().contains("1 container(s)"), "{}", r.stdout());
    let after = host_state(&c, &bridge, std::slice::from_ref(&id));
    assert!(
        after.0.is_empty() && after.1.is_empty() && after.2.is_empty(),
        "{after:?}"
    );
    assert!(c.leaked_mounts().is_empty(), "{:?}", c.leaked_mounts());
    let cg = format!("/sys/fs/cgroup/memory/berth/{id}");
    assert!(!std::path::Path::new(&cg).exists(), "{cg} left");
    let files: Vec<_> = std::fs::read_dir(c.root()).unwrap().flatten().collect();
    assert!(files.is_empty(), "{files:?}");
    // The store is usable again, empty.
    assert_eq!(c.berth(&["images", "-q"]).ok().stdout(), "");
    c.busybox("bb");
    c.berth(&["run", "--rm", "bb", "true"]).ok();
}

/// A DNS reply to `query` (one question) with one A record: `ip`.
fn stub_dns_answer(query: &[u8], ip: [u8; 4]) -> Vec<u8> {
    let mut r = query.to_vec();
    r[2] |= 0x80; // a response
    r[3] = 0x80; // recursion available, no error
    r[6..8].copy_from_slice(&1u16.to_be_bytes()); // one answer
    r[8..12].fill(0);
    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]); // name at 12, A, IN
    r.extend_from_slice(&ip);
    r
}
