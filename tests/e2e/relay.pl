#!/usr/bin/perl
# One guest TCP connection <-> one connection to HOST:PORT on the host's loopback.
#
#   relay.pl HOST PORT PIDDIR LIFETIME_S
#
# qemu's user-mode network starts one of these per guest connection (guestfwd=...-cmd:), with
# the guest's connection on stdin/stdout. A guestfwd to a chardev would instead splice every
# guest connection into one host connection, which breaks the second login.
#
# libslirp's end of stdin/stdout is a loopback TCP socket with Nagle on; re-arming TCP_QUICKACK
# after every read stops our delayed ACKs from stalling each PDU's tail by ~40 ms (writes were
# 2.5x slower without it). The target-facing socket is left alone so the target's own Nagle
# behaviour shows. The relay records its pid in PIDDIR (the host kills leftovers by pid) and
# never lives longer than LIFETIME_S.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP);

my ($host, $port, $piddir, $lifetime) = @ARGV;
die "usage: relay.pl HOST PORT PIDDIR LIFETIME_S\n" unless defined $lifetime;
my $TCP_QUICKACK = 12;    # linux/tcp.h; Socket.pm exports it only on some perls
my $pidfile = "$piddir/$$";
if (open(my $fh, '>', $pidfile)) { close $fh; }
$SIG{ALRM} = sub { unlink $pidfile; exit 1 };
alarm($lifetime);

my $up = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp',
                               Timeout => 5);
unless ($up) { unlink $pidfile; exit 1; }
open(my $guest_in, '<&=', 0) or die;
open(my $guest_out, '>&=', 1) or die;
binmode $_ for ($guest_in, $guest_out, $up);
my $quickack = sub { setsockopt($guest_in, IPPROTO_TCP, $TCP_QUICKACK, 1) };
$quickack->();

my $sel = IO::Select->new($guest_in, $up);
my $buf;
OUTER: while (1) {
  for my $fh ($sel->can_read) {
    my $n = sysread($fh, $buf, 262144);
    last OUTER unless $n;
    my $from_target = fileno($fh) == fileno($up);
    my $to = $from_target ? $guest_out : $up;
    $quickack->() unless $from_target;
    my $off = 0;
    while ($off < $n) {
      my $w = syswrite($to, $buf, $n - $off, $off);
      last OUTER unless defined $w && $w > 0;
      $off += $w;
    }
  }
}
unlink $pidfile;
exit 0;
