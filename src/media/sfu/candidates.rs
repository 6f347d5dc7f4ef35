//! ICE candidate and SDP rewriting: the shared UDP port and the announced public address. Pure.
//!
//! Each peer connection gathers its host candidate on a placeholder socket;
//! the packets really flow through the one shared (muxed) port. Before a
//! candidate or an SDP leaves the server, the placeholder port becomes the
//! shared port, and with `SWITCHBOARD_PUBLIC_IP` the host address becomes the
//! announced public one (for servers behind 1:1 NAT).

use std::net::IpAddr;

/// What to rewrite in host candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// The ports the peer connection's own sockets got.
    pub placeholder_ports: Vec<u16>,
    /// The shared port clients must use.
    pub shared_port: u16,
    /// The address to announce instead of the local one, if any.
    pub public_ip: Option<IpAddr>,
}

/// Rewrites one candidate (`candidate:…`, with or without `a=`); other text is returned as is.
pub fn candidate(line: &str, rw: &Rewrite) -> String {
    let (prefix, body) = match line.strip_prefix("a=") {
        Some(rest) => ("a=", rest),
        None => ("", line),
    };
    if !body.starts_with("candidate:") {
        return line.to_owned();
    }
    let mut parts: Vec<&str> = body.split(' ').collect();
    // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    if parts.len() < 8 || parts[6] != "typ" || parts[7] != "host" {
        return line.to_owned();
    }
    let placeholder = parts[5].parse::<u16>().is_ok_and(|p| rw.placeholder_ports.contains(&p));
    if !parts[2].eq_ignore_ascii_case("udp") || !placeholder {
        return line.to_owned();
    }
    let port = rw.shared_port.to_string();
    let ip = rw.public_ip.map(|ip| ip.to_string());
    parts[5] = &port;
    if let Some(ip) = &ip {
        parts[4] = ip;
    }
    format!("{prefix}{}", parts.join(" "))
}

/// Rewrites every `a=candidate:` line of an SDP (keeping its line endings).
pub fn sdp(sdp: &str, rw: &Rewrite) -> String {
    let mut out = String::with_capacity(sdp.len() + 16);
    for line in sdp.split_inclusive('\n') {
        let (text, end) = match line.strip_suffix("\r\n") {
            Some(t) => (t, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(t) => (t, "\n"),
                None => (line, ""),
            },
        };
        if text.starts_with("a=candidate:") {
            out.push_str(&candidate(text, rw));
        } else {
            out.push_str(text);
        }
        out.push_str(end);
    }
    out
}

/// The first `a=mid:` of an SDP (where the server's candidates are trickled to).
pub fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .map(|m| m.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw() -> Rewrite {
        Rewrite {
            placeholder_ports: vec![51_368, 51_370],
            shared_port: 7882,
            public_ip: None,
        }
    }

    #[test]
    fn host_udp_candidates_get_the_shared_port() {
        let c = "candidate:2693830880 1 udp 2130706431 127.0.0.1 51368 typ host";
        assert_eq!(
            candidate(c, &rw()),
            "candidate:2693830880 1 udp 2130706431 127.0.0.1 7882 typ host"
        );
        let with_a = format!("a={c} generation 0");
        assert_eq!(
            candidate(&with_a, &rw()),
            "a=candidate:2693830880 1 udp 2130706431 127.0.0.1 7882 typ host generation 0"
        );
    }

    #[test]
    fn the_public_ip_replaces_the_host_address() {
        let rw = Rewrite {
            public_ip: Some("203.0.113.7".parse().unwrap()),
            ..rw()
        };
        let c = "candidate:1 1 UDP 2130706431 10.0.0.5 51368 typ host";
        assert_eq!(
            candidate(c, &rw),
            "candidate:1 1 UDP 2130706431 203.0.113.7 7882 typ host"
        );
    }

    #[test]
    fn other_candidates_and_text_are_untouched() {
        for c in [
            "candidate:1 1 udp 1686052607 198.51.100.1 51368 typ srflx raddr 10.0.0.5 rport 51368",
            "candidate:1 1 tcp 1518280447 10.0.0.5 51368 typ host tcptype passive",
            "candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host",
            "candidate:1 1 udp",
            "",
            "a=mid:0",
        ] {
            assert_eq!(candidate(c, &rw()), c);
        }
    }

    #[test]
    fn every_placeholder_socket_of_a_wildcard_bind_is_rewritten() {
        let c = "candidate:2 1 udp 2130706431 192.0.2.2 51370 typ host";
        assert_eq!(
            candidate(c, &rw()),
            "candidate:2 1 udp 2130706431 192.0.2.2 7882 typ host"
        );
    }

    #[test]
    fn sdp_lines_are_rewritten_in_place() {
        let s = "v=0\r\na=mid:0\r\na=candidate:9 1 udp 2130706431 127.0.0.1 51368 typ host\r\na=end-of-candidates\r\n";
        let out = sdp(s, &rw());
        assert_eq!(
            out,
            "v=0\r\na=mid:0\r\na=candidate:9 1 udp 2130706431 127.0.0.1 7882 typ host\r\na=end-of-candidates\r\n"
        );
        assert_eq!(first_mid(s).as_deref(), Some("0"));
        assert_eq!(first_mid("v=0\r\n"), None);
        assert_eq!(sdp("v=0", &rw()), "v=0");
    }
}
