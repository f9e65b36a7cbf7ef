#!/usr/bin/perl
# The scenario's commands through Perl's Sys::Virt (see test_clients.py).
use strict;
use warnings;
use MIME::Base64;
use Sys::Virt;

$| = 1;
my $conn = Sys::Virt->new(uri => $ARGV[0]);

sub snap {
    my ($vm, $name) = @_;
    return $conn->get_domain_by_name($vm)->get_snapshot_by_name($name);
}

sub xml_text {
    my $s = shift;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    return $s;
}

my %commands = (
    'num-active' => sub { $conn->num_of_domains() },
    'active-ids' => sub { join ' ', $conn->list_domain_ids($conn->num_of_domains()) },
    'num-defined' => sub { $conn->num_of_defined_domains() },
    'defined-names' => sub {
        join ' ', $conn->list_defined_domain_names($conn->num_of_defined_domains());
    },
    'create' => sub {
        my ($vm, $name, $desc) = @_;
        my $xml = "<domainsnapshot><name>" . xml_text($name) . "</name>";
        $xml .= "<description>" . xml_text($desc) . "</description>" if $desc ne '-';
        $xml .= "</domainsnapshot>";
        $conn->get_domain_by_name($vm)->create_snapshot($xml, 0)->get_name();
    },
    'list' => sub {
        join ' ', map { $_->get_name() } $conn->get_domain_by_name($_[0])->list_all_snapshots();
    },
    'parent' => sub { snap(@_)->get_parent()->get_name() },
    'children' => sub { join ' ', map { $_->get_name() } snap(@_)->list_all_children() },
    'current' => sub { $conn->get_domain_by_name($_[0])->current_snapshot()->get_name() },
    'xml' => sub { encode_base64(snap(@_)->get_xml_description(), '') },
    'revert' => sub { snap(@_)->revert_to(0); '' },
    'state' => sub { join ' ', $conn->get_domain_by_name($_[0])->get_state() },
    'delete-children' => sub {
        snap(@_)->delete(Sys::Virt::DomainSnapshot::DELETE_CHILDREN);
        '';
    },
    'checkpoints' => sub {
        join ' ', map { $_->get_name() } $conn->get_domain_by_name($_[0])->list_all_checkpoints();
    },
    'checkpoint' => sub {
        $conn->get_domain_by_name($_[0])->create_checkpoint(
            "<domaincheckpoint><name>$_[1]</name></domaincheckpoint>")->get_name();
    },
    'hostname' => sub { $conn->get_domain_by_name($_[0])->get_hostname() },
);

while (my $line = <STDIN>) {
    chomp $line;
    my ($cmd, @args) = split / /, $line, 4;
    if ($cmd eq 'quit') {
        print "ok\n";
        last;
    }
    my $run = $commands{$cmd} or die "unknown command $cmd\n";
    my $out = eval { $run->(@args) };
    if ($@) {
        my $e = $@;
        die $e unless ref $e && $e->isa('Sys::Virt::Error');
        my $msg = $e->message;
        $msg =~ s/\n/ /g;
        print "err ", $e->code, " $msg\n";
    } else {
        print "ok $out\n";
    }
}
