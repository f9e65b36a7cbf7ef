// The scenario's commands through go-libvirt, a Go client with its own
// XDR code that speaks the remote protocol on the socket itself (see
// test_clients.py). Arguments: the daemon's socket, then the URI (its
// name part is what CONNECT_OPEN sends).
package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

var l *libvirt.Libvirt

func text(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;").Replace(s)
}

func snapshot(vm, name string) (libvirt.DomainSnapshot, error) {
	d, err := l.DomainLookupByName(vm)
	if err != nil {
		return libvirt.DomainSnapshot{}, err
	}
	return l.DomainSnapshotLookupByName(d, name, 0)
}

func names(snaps []libvirt.DomainSnapshot) string {
	out := []string{}
	for _, s := range snaps {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

func run(cmd string, a []string) (string, error) {
	switch cmd {
	case "num-active":
		n, err := l.ConnectNumOfDomains()
		return fmt.Sprint(n), err
	case "active-ids":
		ids, err := l.ConnectListDomains(16)
		out := []string{}
		for _, id := range ids {
			out = append(out, fmt.Sprint(id))
		}
		return strings.Join(out, " "), err
	case "num-defined":
		n, err := l.ConnectNumOfDefinedDomains()
		return fmt.Sprint(n), err
	case "defined-names":
		names, err := l.ConnectListDefinedDomains(16)
		sort.Strings(names)
		return strings.Join(names, " "), err
	case "uri":
		return l.ConnectGetUri()
	case "create":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		xml := "<domainsnapshot><name>" + text(a[1]) + "</name>"
		if a[2] != "-" {
			xml += "<description>" + text(a[2]) + "</description>"
		}
		s, err := l.DomainSnapshotCreateXML(d, xml+"</domainsnapshot>", 0)
		return s.Name, err
	case "list":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		snaps, _, err := l.DomainListAllSnapshots(d, 1, 0)
		return names(snaps), err
	case "parent":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		p, err := l.DomainSnapshotGetParent(s, 0)
		return p.Name, err
	case "children":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		children, _, err := l.DomainSnapshotListAllChildren(s, 1, 0)
		return names(children), err
	case "current":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		s, err := l.DomainSnapshotCurrent(d, 0)
		return s.Name, err
	case "xml":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		xml, err := l.DomainSnapshotGetXMLDesc(s, 0)
		return base64.StdEncoding.EncodeToString([]byte(xml)), err
	case "revert":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		return "", l.DomainRevertToSnapshot(s, 0)
	case "state":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		state, reason, err := l.DomainGetState(d, 0)
		return fmt.Sprintf("%d %d", state, reason), err
	case "delete-children":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		return "", l.DomainSnapshotDelete(s, libvirt.DomainSnapshotDeleteChildren)
	case "checkpoints":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		cps, _, err := l.DomainListAllCheckpoints(d, 1, 0)
		out := []string{}
		for _, c := range cps {
			out = append(out, c.Name)
		}
		return strings.Join(out, " "), err
	case "checkpoint":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		c, err := l.DomainCheckpointCreateXML(d, "<domaincheckpoint><name>"+
			a[1]+"</name></domaincheckpoint>", 0)
		return c.Name, err
	case "hostname":
		d, err := l.DomainLookupByName(a[0])
		if err != nil {
			return "", err
		}
		return l.DomainGetHostname(d, 0)
	}
	return "", fmt.Errorf("unknown command %s", cmd)
}

func main() {
	l = libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(os.Args[1])))
	if err := l.ConnectToURI(libvirt.ConnectURI("hyperv:///system")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		words := strings.SplitN(in.Text(), " ", 4)
		if words[0] == "quit" {
			fmt.Println("ok")
			break
		}
		out, err := run(words[0], words[1:])
		var lerr libvirt.Error
		if errors.Is(err, libvirt.ErrUnsupported) {
			// what go-libvirt makes of libvirtd's "unknown procedure"
			fmt.Printf("err -1 %s\n", err)
		} else if errors.As(err, &lerr) {
			fmt.Printf("err %d %s\n", lerr.Code,
				strings.ReplaceAll(lerr.Message, "\n", " "))
		} else if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		} else {
			fmt.Printf("ok %s\n", out)
		}
	}
	l.Disconnect()
}
