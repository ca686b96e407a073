#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into tests/fuzz/corpus/<target>/.

The seeds are what real initiators send (open-iscsi and Windows logins, CHAP exchanges, the
SCSI commands of the command table with the CDBs Linux sd and Windows issue) in each target's
input format (see the comment at the top of tests/fuzz/fuzz_<target>.cpp). Re-run after changing
an input format; the files are committed so the fuzzers start from them without Python.
"""
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def text(*pairs):
    return b"".join(k.encode() + b"=" + v.encode() + b"\0" for k, v in pairs)


ISID = bytes([0x40, 0x00, 0x01, 0x37, 0x00, 0x00])
TARGET = "iqn.2026-11.io.swiftness:fuzz"
INITIATOR = "iqn.2026-11.org.example:fuzz"


def bhs(opcode, flags, data_len, immediate=False, lun=0, itt=1, f20=0, cmdsn=1, expstatsn=0,
        f32=b"", ahs_len=0):
    b = bytearray(48)
    b[0] = opcode | (0x40 if immediate else 0)
    b[1] = flags
    b[4] = ahs_len
    b[5:8] = data_len.to_bytes(3, "big")
    b[8:16] = lun.to_bytes(8, "big") if isinstance(lun, int) else lun
    b[16:20] = itt.to_bytes(4, "big")
    b[20:24] = f20.to_bytes(4, "big")
    b[24:28] = cmdsn.to_bytes(4, "big")
    b[28:32] = expstatsn.to_bytes(4, "big")
    b[32:32 + len(f32)] = f32
    return bytes(b)


def login_bhs(flags, data, tsih=0, cid=0, cmdsn=1, expstatsn=0):
    lun = ISID + tsih.to_bytes(2, "big")
    b = bytearray(bhs(0x03, flags, len(data), immediate=True, lun=lun, itt=1, cmdsn=cmdsn,
                      expstatsn=expstatsn))
    b[20:22] = cid.to_bytes(2, "big")
    return bytes(b)


def wire(header, data=b"", ahs=b"", hd=False, dd=False):
    out = header + ahs
    if hd:
        out += struct.pack("<I", crc32c(out))
    if data:
        padded = data + b"\0" * (-len(data) % 4)
        out += padded
        if dd:
            out += struct.pack("<I", crc32c(padded))
    return out


# Login keys as open-iscsi and the Windows initiator send them.
SEC_NONE = text(("InitiatorName", INITIATOR), ("InitiatorAlias", "host1"),
                ("SessionType", "Normal"), ("TargetName", TARGET), ("AuthMethod", "None"))
SEC_CHAP = text(("InitiatorName", INITIATOR), ("SessionType", "Normal"),
                ("TargetName", TARGET), ("AuthMethod", "CHAP,None"))
CHAP_A = text(("CHAP_A", "5"))
CHAP_R = text(("CHAP_N", "alice"), ("CHAP_R", "0x" + "00" * 16))
CHAP_R_MUTUAL = text(("CHAP_N", "alice"), ("CHAP_R", "0x" + "11" * 16), ("CHAP_I", "7"),
                     ("CHAP_C", "0b" + "QUJDREVGR0hJSktMTU5PUA=="))
OPERATIONAL = text(("HeaderDigest", "None,CRC32C"), ("DataDigest", "None"),
                   ("InitialR2T", "No"), ("ImmediateData", "Yes"),
                   ("MaxRecvDataSegmentLength", "262144"), ("MaxBurstLength", "16776192"),
                   ("FirstBurstLength", "262144"), ("DefaultTime2Wait", "0"),
                   ("DefaultTime2Retain", "0"), ("MaxOutstandingR2T", "1"),
                   ("DataPDUInOrder", "Yes"), ("DataSequenceInOrder", "Yes"),
                   ("ErrorRecoveryLevel", "0"), ("IFMarker", "No"), ("OFMarker", "No"),
                   ("MaxConnections", "1"))
WINDOWS_OP = text(("HeaderDigest", "None"), ("DataDigest", "None"), ("ErrorRecoveryLevel", "2"),
                  ("InitialR2T", "No"), ("ImmediateData", "Yes"),
                  ("MaxBurstLength", "262144"), ("FirstBurstLength", "65536"),
                  ("MaxOutstandingR2T", "1"), ("MaxConnections", "1"),
                  ("MaxRecvDataSegmentLength", "65536"), ("DefaultTime2Wait", "2"),
                  ("DefaultTime2Retain", "20"), ("IFMarker", "No"), ("OFMarker", "No"))
DISCOVERY = text(("InitiatorName", INITIATOR), ("SessionType", "Discovery"),
                 ("AuthMethod", "None"))
SEND_TARGETS = text(("SendTargets", "All"))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pdu_reader_seeds():
    read10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]) + bytes(6)
    write10 = bytes([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]) + bytes(6)
    pdus = {
        "login": wire(login_bhs(0x81, SEC_NONE), SEC_NONE),
        "login_operational": wire(login_bhs(0x87, OPERATIONAL), OPERATIONAL),
        "read10": wire(bhs(0x01, 0xc1, 0, itt=2, f20=4096, f32=read10)),
        "write10_immediate": wire(bhs(0x01, 0xa1, 1024, itt=3, f20=4096, f32=write10),
                                  bytes(range(256)) * 4),
        "data_out": wire(bhs(0x05, 0x80, 512, itt=3, f20=0xffffffff, cmdsn=0), bytes(512)),
        "nop_out": wire(bhs(0x00, 0x80, 5, immediate=True, itt=4, f20=0xffffffff), b"hello"),
        "text_send_targets": wire(bhs(0x04, 0x80, len(SEND_TARGETS), itt=5,
                                      f20=0xffffffff), SEND_TARGETS),
        "logout": wire(bhs(0x06, 0x80, 0, immediate=True, itt=6)),
        "tmf_abort": wire(bhs(0x02, 0x81, 0, immediate=True, itt=7, f20=3)),
        "extended_cdb_ahs": wire(bhs(0x01, 0xc1, 0, itt=8, f20=512, f32=read10, ahs_len=3),
                                 ahs=bytes([0, 9, 1, 0]) + bytes(8)),
    }
    # Limits byte: bit 0 header digest, bit 1 data digest, bits 2-4 MRDSL (512 << n), bit 5
    # steering (below); then the split seed. 0x1c: no digests, 64 KiB.
    for name, p in pdus.items():
        write("pdu_reader", name, bytes([0x1c, 7]) + p)
    stream = b"".join(pdus.values())
    write("pdu_reader", "session_stream", bytes([0x1c, 13]) + stream)
    digested = (wire(bhs(0x01, 0xa1, 1024, itt=3, f20=4096, f32=write10), bytes(1024),
                     hd=True, dd=True) +
                wire(bhs(0x00, 0x80, 5, immediate=True, itt=4, f20=0xffffffff), b"hello",
                     hd=True, dd=True))
    write("pdu_reader", "digests", bytes([0x1f, 3]) + digested)
    # Bit 5: Data-Out payloads steered and landed directly, as the connection reads them. Sizes
    # with padding, an empty one, one larger than a split piece; then with both digests.
    data_outs = [wire(bhs(0x05, 0x80 if n == 4096 else 0, n, itt=3, f20=0xffffffff, cmdsn=0),
                      bytes(range(256)) * (n // 256) + bytes(n % 256), hd=hd, dd=hd)
                 for hd in (False, True) for n in (513, 0, 4096)]
    write("pdu_reader", "data_out_steered", bytes([0x3c, 5]) + b"".join(data_outs[:3]))
    write("pdu_reader", "data_out_steered_digests", bytes([0x3f, 9]) + b"".join(data_outs[3:]))


def text_seeds():
    # Mode byte: bit 0 digests allowed, bit 1 discovery session.
    for name, t in {"security_none": SEC_NONE, "security_chap": SEC_CHAP, "chap_a": CHAP_A,
                    "chap_r_mutual": CHAP_R_MUTUAL, "operational_linux": OPERATIONAL,
                    "operational_windows": WINDOWS_OP, "send_targets": SEND_TARGETS,
                    "unknown_and_reject": text(("X-com.example.Foo", "1"),
                                               ("TargetAlias", "x"), ("MaxBurstLength", "0x10"),
                                               ("OFMarkInt", "2048~8192"))}.items():
        write("text", name, bytes([1]) + t)
    write("text", "discovery", bytes([3]) + DISCOVERY + OPERATIONAL)


def login_seeds():
    # Mode byte: bit 0 CHAP, bit 1 mutual CHAP, bit 2 discovery CHAP, bit 3 allow list,
    # bit 4 TSIH lookups succeed. Each PDU: 48-byte BHS, u16 data length, data.
    def pdu(header, data):
        return header + struct.pack(">H", len(data)) + data

    none2 = pdu(login_bhs(0x81, SEC_NONE), SEC_NONE) + \
        pdu(login_bhs(0x87, OPERATIONAL, expstatsn=1), OPERATIONAL)
    write("login", "none_two_pdus", bytes([0]) + none2)
    write("login", "none_allow_list", bytes([8]) + none2)
    one = SEC_NONE + OPERATIONAL
    write("login", "none_one_pdu", bytes([0]) + pdu(login_bhs(0x83, one), one))
    write("login", "windows", bytes([0]) + pdu(login_bhs(0x81, SEC_NONE), SEC_NONE) +
          pdu(login_bhs(0x87, WINDOWS_OP), WINDOWS_OP))
    chap = (pdu(login_bhs(0x01, SEC_CHAP), SEC_CHAP) + pdu(login_bhs(0x01, CHAP_A), CHAP_A) +
            pdu(login_bhs(0x81, CHAP_R), CHAP_R) + pdu(login_bhs(0x87, OPERATIONAL), OPERATIONAL))
    write("login", "chap", bytes([1]) + chap)
    mutual = (pdu(login_bhs(0x01, SEC_CHAP), SEC_CHAP) + pdu(login_bhs(0x01, CHAP_A), CHAP_A) +
              pdu(login_bhs(0x81, CHAP_R_MUTUAL), CHAP_R_MUTUAL))
    write("login", "mutual_chap", bytes([3]) + mutual)
    write("login", "discovery", bytes([0]) + pdu(login_bhs(0x87, DISCOVERY), DISCOVERY))
    write("login", "discovery_chap", bytes([5]) + pdu(login_bhs(0x01, DISCOVERY), DISCOVERY))
    # Text continued over two PDUs (C bit), then a reinstatement with a TSIH.
    half = len(SEC_NONE) // 2
    write("login", "continued", bytes([0]) + pdu(login_bhs(0x40, SEC_NONE[:half]),
                                                 SEC_NONE[:half]) +
          pdu(login_bhs(0x81, SEC_NONE[half:]), SEC_NONE[half:]))
    write("login", "reinstatement", bytes([16]) + pdu(login_bhs(0x81, SEC_NONE, tsih=5),
                                                      SEC_NONE))


def scsi_seeds():
    # Per command: flags (bit 0 nexus, bits 1-2 direction 1=read 2=write, bit 3 LUN 1,
    # bits 4-5 task attribute), CDB length, 16 CDB bytes, u24 EDTL, data-out.
    def cmd(cdb, edtl=0, direction=0, data=b"", nexus=0):
        flags = nexus | direction << 1
        return (bytes([flags, len(cdb)]) + cdb + bytes(16 - len(cdb)) +
                edtl.to_bytes(3, "big") + data)

    def c(*b):
        return bytes(b)

    R, W = 1, 2
    be32 = lambda v: v.to_bytes(4, "big")
    be64 = lambda v: v.to_bytes(8, "big")
    pr_params = be64(0) + be64(0x1234) + bytes(8)  # RESERVATION KEY, SERVICE ACTION KEY
    unmap_params = bytes([0, 22, 0, 16]) + bytes(4) + be64(8) + be32(8) + bytes(4)
    seeds = {
        "test_unit_ready": cmd(c(0x00, 0, 0, 0, 0, 0)),
        "request_sense": cmd(c(0x03, 0, 0, 0, 252, 0), 252, R),
        "read6": cmd(c(0x08, 0, 0, 0, 8, 0), 4096, R),
        "write6": cmd(c(0x0a, 0, 0, 0, 1, 0), 512, W, bytes(range(256)) * 2),
        "inquiry": cmd(c(0x12, 0, 0, 0, 96, 0), 96, R),
        "inquiry_vpd00": cmd(c(0x12, 1, 0x00, 0, 255, 0), 255, R),
        "inquiry_vpd80": cmd(c(0x12, 1, 0x80, 0, 255, 0), 255, R),
        "inquiry_vpd83": cmd(c(0x12, 1, 0x83, 1, 0, 0), 256, R),
        "inquiry_vpdb0": cmd(c(0x12, 1, 0xb0, 0, 64, 0), 64, R),
        "inquiry_vpdb1": cmd(c(0x12, 1, 0xb1, 0, 64, 0), 64, R),
        "inquiry_vpdb2": cmd(c(0x12, 1, 0xb2, 0, 64, 0), 64, R),
        "mode_select6_caching": cmd(c(0x15, 0x10, 0, 0, 24, 0), 24, W,
                                    bytes([23, 0, 0, 0, 0x08, 18, 0x04]) + bytes(17)),
        "reserve6": cmd(c(0x16, 0, 0, 0, 0, 0)),
        "release6": cmd(c(0x17, 0, 0, 0, 0, 0)),
        "mode_sense6_all": cmd(c(0x1a, 0x08, 0x3f, 0, 192, 0), 192, R),
        "mode_sense6_caching": cmd(c(0x1a, 0, 0x08, 0, 192, 0), 192, R),
        "start_stop": cmd(c(0x1b, 0, 0, 0, 1, 0)),
        "prevent_allow": cmd(c(0x1e, 0, 0, 0, 1, 0)),
        "read_capacity10": cmd(c(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), 8, R),
        "read10": cmd(c(0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0), 4096, R),
        "write10_fua": cmd(c(0x2a, 0x08, 0, 0, 0, 8, 0, 0, 2, 0), 1024, W, b"\xa5" * 1024),
        "write_verify10": cmd(c(0x2e, 0, 0, 0, 0, 1, 0, 0, 1, 0), 512, W, b"\x11" * 512),
        "verify10": cmd(c(0x2f, 0, 0, 0, 0, 0, 0, 0, 8, 0)),
        "prefetch10": cmd(c(0x34, 0, 0, 0, 0, 0, 0, 0, 8, 0)),
        "sync_cache10": cmd(c(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        "read_defect10": cmd(c(0x37, 0, 0x05, 0, 0, 0, 0, 0, 4, 0), 4, R),
        "write_same10_unmap": cmd(c(0x41, 0x08, 0, 0, 0, 16, 0, 0, 16, 0), 512, W, bytes(512)),
        "unmap": cmd(c(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), 24, W, unmap_params),
        "mode_select10": cmd(c(0x55, 0x10, 0, 0, 0, 0, 0, 0, 28, 0), 28, W,
                             bytes([0, 26, 0, 0, 0, 0, 0, 0, 0x08, 18, 0x04]) + bytes(17)),
        "reserve10": cmd(c(0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        "release10": cmd(c(0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        "mode_sense10": cmd(c(0x5a, 0, 0x3f, 0, 0, 0, 0, 1, 0, 0), 256, R),
        "pr_in_read_keys": cmd(c(0x5e, 0, 0, 0, 0, 0, 0, 2, 0, 0), 512, R),
        "pr_in_read_reservation": cmd(c(0x5e, 1, 0, 0, 0, 0, 0, 2, 0, 0), 512, R),
        "pr_in_capabilities": cmd(c(0x5e, 2, 0, 0, 0, 0, 0, 0, 8, 0), 8, R),
        "pr_in_full_status": cmd(c(0x5e, 3, 0, 0, 0, 0, 0, 2, 0, 0), 512, R),
        "compare_and_write": cmd(c(0x89, 0, *be64(4), 0, 0, 0, 1, 0, 0), 1024, W,
                                 bytes(512) + b"\x5a" * 512),
        "read16": cmd(c(0x88, 0, *be64(16), *be32(8), 0, 0), 4096, R),
        "write16": cmd(c(0x8a, 0, *be64(16), *be32(1), 0, 0), 512, W, b"\x42" * 512),
        "write_verify16": cmd(c(0x8e, 0, *be64(2), *be32(1), 0, 0), 512, W, b"\x24" * 512),
        "verify16_bytchk": cmd(c(0x8f, 0x02, *be64(2), *be32(1), 0, 0), 512, W, b"\x24" * 512),
        "prefetch16": cmd(c(0x90, 0, *be64(0), *be32(8), 0, 0)),
        "sync_cache16": cmd(c(0x91, 0, *be64(0), *be32(0), 0, 0)),
        "write_same16_ndob": cmd(c(0x93, 0x09, *be64(32), *be32(32), 0, 0)),
        "read_capacity16": cmd(c(0x9e, 0x10, *be64(0), *be32(32), 0, 0), 32, R),
        "get_lba_status": cmd(c(0x9e, 0x12, *be64(0), *be32(24), 0, 0), 24, R),
        "report_luns": cmd(c(0xa0, 0, 0, 0, 0, 0, *be32(16), 0, 0), 16, R),
        "report_opcodes_all": cmd(c(0xa3, 0x0c, 0, 0, 0, 0, *be32(8192), 0, 0), 8192, R),
        "report_opcodes_one": cmd(c(0xa3, 0x0c, 0x02, 0x5f, 0, 0x01, *be32(64), 0, 0), 64, R),
        "report_tmf": cmd(c(0xa3, 0x0d, 0, 0, 0, 0, *be32(4), 0, 0), 4, R),
        "read12": cmd(c(0xa8, 0, *be32(0), *be32(8), 0, 0), 4096, R),
        "write12": cmd(c(0xaa, 0, *be32(8), *be32(1), 0, 0), 512, W, b"\x77" * 512),
        "write_verify12": cmd(c(0xae, 0, *be32(8), *be32(1), 0, 0), 512, W, b"\x77" * 512),
        "verify12": cmd(c(0xaf, 0, *be32(8), *be32(1), 0, 0)),
        "read_defect12": cmd(c(0xb7, 0x05, 0, 0, 0, 0, *be32(8), 0, 0), 8, R),
        "read10_beyond_end": cmd(c(0x28, 0, 0, 0, 0, 255, 0, 0, 8, 0), 4096, R),
        "read10_lun1": bytes([0x08 | 2, 10]) + c(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0) + bytes(6) +
        (512).to_bytes(3, "big"),
    }
    for sa in range(8):
        params = pr_params
        if sa == 1:  # RESERVE, Write Exclusive Registrants Only (type 5)
            cdb = c(0x5f, sa, 0x05, 0, 0, 0, 0, 0, 24, 0)
            params = be64(0x1234) + bytes(16)
        else:
            cdb = c(0x5f, sa, 0, 0, 0, 0, 0, 0, 24, 0)
        seeds[f"pr_out_{sa}"] = cmd(cdb, 24, W, params)
    for name, s in seeds.items():
        write("scsi", name, s)
    # Sequences: register, reserve, then the other nexus writes (conflict) and preempts.
    register = cmd(c(0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0), 24, W, be64(0) + be64(0xaa) + bytes(8))
    reserve = cmd(c(0x5f, 1, 0x01, 0, 0, 0, 0, 0, 24, 0), 24, W, be64(0xaa) + bytes(16))
    write_b = cmd(c(0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0), 512, W, bytes(512), nexus=1)
    register_b = cmd(c(0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0), 24, W, be64(0) + be64(0xbb) +
                     bytes(8), nexus=1)
    preempt = cmd(c(0x5f, 4, 0x01, 0, 0, 0, 0, 0, 24, 0), 24, W, be64(0xbb) + be64(0xaa) +
                  bytes(8), nexus=1)
    write("scsi", "seq_pr_preempt", register + reserve + write_b + register_b + preempt)
    tur_ua = cmd(c(0x00, 0, 0, 0, 0, 0))
    write("scsi", "seq_reserve6_conflict", cmd(c(0x16, 0, 0, 0, 0, 0)) + tur_ua +
          cmd(c(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), 512, R, nexus=1))


def config_seeds():
    shutil.copy(os.path.join(ROOT, "config", "example.yaml"),
                os.path.join(HERE, "corpus", "config", "example.yaml"))
    full = """target:
  iqn: iqn.2026-11.io.swiftness:example
  alias: example
  portals: ["127.0.0.1:3260", "[::1]:3260"]
  chap: {user: alice, secret: alicesecret12}
  mutual_chap: {user: target, secret: targetsecret1}
  discovery_chap: false
  allowed_initiators: [iqn.1991-05.com.microsoft:host1]
  max_connections: 1024
  login_timeout_ms: 15000
  nop_interval_ms: 5000
  nop_timeout_ms: 15000
swift:
  auth_url: http://127.0.0.1:8080/auth/v1.0
  auth_version: 1
  user: "test:tester"
  key: testing
  ca_file: ""
  verify_tls: true
cache:
  path: /var/lib/swiftness/cache
  size: 2GiB
  dirty_high_watermark: 75
  dirty_low_watermark: 50
  flush_concurrency: 8
  max_dirty_age_s: 30
  shutdown_drain_s: 60
state_dir: /var/lib/swiftness/state
log_level: info
luns:
  - {id: 0, name: disk0, backend: file, path: /var/lib/swiftness/disk0.img, size: 100GiB,
     block_size: 512, thin: true, read_only: false, write_cache: true, serial: ""}
  - id: 1
    name: vol1
    backend: swift
    container: swiftness-vol1
    size: 100GiB
    chunk_size: 4MiB
    compression: zstd
    storage_policy: ""
"""
    write("config", "readme_full.yaml", full.encode())
    keystone = """target: {iqn: "iqn.2026-11.io.swiftness:ks", portals: ["0.0.0.0:3260"]}
swift:
  auth_url: https://keystone.example:5000/v3
  auth_version: 3
  user: swiftness
  key_env: SWIFT_KEY
  project: storage
  project_domain: Default
  user_domain: Default
  region: RegionOne
  interface: internal
luns: [{id: 0, size: 1TiB, block_size: 4096}]
"""
    write("config", "keystone.yaml", keystone.encode())
    errors = """target:
  iqn: not-an-iqn
  portals: ["300.1.1.1:99999"]
  chap: {user: a, secret: short}
  bogus_key: 1
luns:
  - {id: 0, backend: file, size: 12XB, block_size: 1000}
  - {id: 0, backend: floppy}
"""
    write("config", "errors.yaml", errors.encode())


def main():
    for t in ("pdu_reader", "text", "login", "scsi", "config"):
        d = os.path.join(HERE, "corpus", t)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    pdu_reader_seeds()
    text_seeds()
    login_seeds()
    scsi_seeds()
    config_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
