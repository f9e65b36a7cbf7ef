// The scenario's commands through the cgo Go binding, libvirt-go (see
// test_clients.py).
package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	libvirt "github.com/libvirt/libvirt-go"
)

var conn *libvirt.Connect

func text(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;").Replace(s)
}

func domain(name string) (*libvirt.Domain, error) {
	return conn.LookupDomainByName(name)
}

func snapshot(vm, name string) (*libvirt.DomainSnapshot, error) {
	d, err := domain(vm)
	if err != nil {
		return nil, err
	}
	return d.SnapshotLookupByName(name, 0)
}

func names(snaps []libvirt.DomainSnapshot) string {
	out := []string{}
	for _, s := range snaps {
		n, _ := s.GetName()
		out = append(out, n)
	}
	return strings.Join(out, " ")
}

func run(cmd string, a []string) (string, error) {
	switch cmd {
	case "num-active":
		n, err := conn.NumOfDomains()
		return fmt.Sprint(n), err
	case "active-ids":
		ids, err := conn.ListDomains()
		out := []string{}
		for _, id := range ids {
			out = append(out, fmt.Sprint(id))
		}
		return strings.Join(out, " "), err
	case "num-defined":
		n, err := conn.NumOfDefinedDomains()
		return fmt.Sprint(n), err
	case "defined-names":
		names, err := conn.ListDefinedDomains()
		sort.Strings(names)
		return strings.Join(names, " "), err
	case "create":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		xml := "<domainsnapshot><name>" + text(a[1]) + "</name>"
		if a[2] != "-" {
			xml += "<description>" + text(a[2]) + "</description>"
		}
		s, err := d.CreateSnapshotXML(xml+"</domainsnapshot>", 0)
		if err != nil {
			return "", err
		}
		return s.GetName()
	case "list":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		snaps, err := d.ListAllSnapshots(0)
		return names(snaps), err
	case "parent":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		p, err := s.GetParent(0)
		if err != nil {
			return "", err
		}
		return p.GetName()
	case "children":
		// the older calls, NUM_CHILDREN and LIST_CHILDREN_NAMES
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		if _, err := s.NumChildren(0); err != nil {
			return "", err
		}
		children, err := s.ListChildrenNames(0)
		return strings.Join(children, " "), err
	case "current":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		s, err := d.SnapshotCurrent(0)
		if err != nil {
			return "", err
		}
		return s.GetName()
	case "xml":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		xml, err := s.GetXMLDesc(0)
		return base64.StdEncoding.EncodeToString([]byte(xml)), err
	case "revert":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		return "", s.RevertToSnapshot(0)
	case "state":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		state, reason, err := d.GetState()
		return fmt.Sprintf("%d %d", state, reason), err
	case "delete-children":
		s, err := snapshot(a[0], a[1])
		if err != nil {
			return "", err
		}
		return "", s.Delete(libvirt.DOMAIN_SNAPSHOT_DELETE_CHILDREN)
	case "checkpoints":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		cps, err := d.ListAllCheckpoints(0)
		out := []string{}
		for _, c := range cps {
			n, _ := c.GetName()
			out = append(out, n)
		}
		return strings.Join(out, " "), err
	case "checkpoint":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		c, err := d.CreateCheckpointXML("<domaincheckpoint><name>"+a[1]+
			"</name></domaincheckpoint>", 0)
		if err != nil {
			return "", err
		}
		return c.GetName()
	case "hostname":
		d, err := domain(a[0])
		if err != nil {
			return "", err
		}
		return d.GetHostname(0)
	}
	return "", fmt.Errorf("unknown command %s", cmd)
}

func main() {
	var err error
	conn, err = libvirt.NewConnect(os.Args[1])
	if err != nil {
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
		if errors.As(err, &lerr) {
			fmt.Printf("err %d %s\n", lerr.Code,
				strings.ReplaceAll(lerr.Message, "\n", " "))
		} else if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		} else {
			fmt.Printf("ok %s\n", out)
		}
	}
	conn.Close()
}
