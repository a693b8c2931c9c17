use super::*;

// Lines in the kernel's own format (taken from a Debian 12 machine, ports changed).
const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 9920 1 00000000da4d9558 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4101 1 00000000e990d05b 100 0 0 10 0
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4102 1 00000000b023473c 100 0 0 10 0
   3: 0A00000A:0016 0B00000A:D431 01 00000000:00000000 02:0009C5E5 00000000     0        0 4103 4 00000000b023473c 20 4 31 10 -1
   4: 0500710C:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4104 1 00000000b023473c 100 0 0 10 0
";
const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4070 1 000000007c20d505 100 0 0 10 0
   1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4105 1 0000000043e32498 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4106 1 0000000043e32498 100 0 0 10 0
";
const UDP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5001 2 0000000000000000 0
  11: 00000000:CA4F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5002 2 0000000000000000 0
  12: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5003 2 0000000000000000 0
  13: 0A00000A:D9C1 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 5004 2 0000000000000000 0
";

fn all() -> Vec<Listener> {
    let mut all = parse(TCP, Proto::Tcp);
    all.extend(parse(TCP6, Proto::Tcp));
    all.extend(parse(UDP, Proto::Udp));
    all
}

#[test]
fn the_kernel_tables_are_read() {
    let tcp = parse(TCP, Proto::Tcp);
    assert_eq!(tcp.len(), 4, "the established connection is not a listener");
    assert_eq!(tcp[0].address, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(tcp[0].port, 3306);
    assert_eq!(tcp[1].address, IpAddr::from([0, 0, 0, 0]));
    assert_eq!((tcp[1].port, tcp[1].inode), (22, 4101));
    assert_eq!(tcp[3].address, IpAddr::from([12, 113, 0, 5]));

    let tcp6 = parse(TCP6, Proto::Tcp);
    assert_eq!(tcp6[0].address, "::1".parse::<IpAddr>().unwrap());
    assert_eq!(tcp6[1].address, "::".parse::<IpAddr>().unwrap());
    assert_eq!(
        tcp6[2].address,
        "::ffff:127.0.0.1".parse::<IpAddr>().unwrap()
    );
    assert!(!tcp6[0].is_public() && tcp6[1].is_public() && !tcp6[2].is_public());

    let udp = parse(UDP, Proto::Udp);
    assert_eq!(
        udp.iter().map(|l| l.port).collect::<Vec<_>>(),
        [68, 51791, 5353],
        "the connected socket is not a listener"
    );
}

#[test]
fn only_public_ports_the_firewall_does_not_open_are_exposed() {
    let owners = HashMap::from([(4102, "python3".to_owned()), (4105, "python3".to_owned())]);
    let allowed = |port: u16, proto: Proto| proto == Proto::Tcp && [22, 80, 443].contains(&port);
    let found = exposed(&all(), allowed, &(32768..=60999), &owners);
    assert_eq!(
        found,
        [
            (
                "8080/tcp".to_owned(),
                vec!["0.0.0.0".to_owned(), "::".to_owned()],
                vec!["python3".to_owned()]
            ),
            ("8081/tcp".to_owned(), vec!["12.113.0.5".to_owned()], vec![]),
            // This `allowed` does not open 68/udp (the firewall control's does: UFW's
            // stock rules let DHCP replies in). 51791/udp is ephemeral: left out.
            ("68/udp".to_owned(), vec!["0.0.0.0".to_owned()], vec![]),
            ("5353/udp".to_owned(), vec!["0.0.0.0".to_owned()], vec![]),
        ]
    );
}

#[test]
fn docker_published_ports_are_read() {
    let text = "web\t0.0.0.0:8080->80/tcp, :::8080->80/tcp, 443/tcp\n\
                db\t127.0.0.1:5432->5432/tcp\n\
                dns\t[::]:5300-5301->53-54/udp\n\
                idle\t\n";
    let found = parse_docker_ps(text);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0].container, "web");
    assert_eq!(found[0].mapping, "0.0.0.0:8080->80/tcp");
    assert_eq!(
        (found[0].low, found[0].high, found[0].proto),
        (8080, 8080, Proto::Tcp)
    );
    assert_eq!(found[1].mapping, ":::8080->80/tcp");
    assert_eq!(
        (found[2].low, found[2].high, found[2].proto),
        (5300, 5301, Proto::Udp)
    );
}
