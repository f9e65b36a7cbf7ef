# The scenario's commands through ruby-libvirt (see test_clients.py).
require 'base64'
require 'libvirt'

$stdout.sync = true
conn = Libvirt::open(ARGV[0])

def text(s)
  s.gsub('&', '&amp;').gsub('<', '&lt;')
end

snap = lambda do |vm, name|
  conn.lookup_domain_by_name(vm).lookup_snapshot_by_name(name)
end

commands = {
  'num-active' => ->() { conn.num_of_domains.to_s },
  'active-ids' => ->() { conn.list_domains.join(' ') },
  'num-defined' => ->() { conn.num_of_defined_domains.to_s },
  'defined-names' => ->() { conn.list_defined_domains.join(' ') },
  'create' => lambda do |vm, name, desc|
    xml = "<domainsnapshot><name>#{text(name)}</name>"
    xml += "<description>#{text(desc)}</description>" if desc != '-'
    xml += '</domainsnapshot>'
    conn.lookup_domain_by_name(vm).snapshot_create_xml(xml, 0).name
  end,
  'list' => ->(vm) { conn.lookup_domain_by_name(vm).list_all_snapshots.map(&:name).join(' ') },
  'parent' => ->(vm, name) { snap.(vm, name).parent.name },
  'children' => ->(vm, name) { snap.(vm, name).list_all_children.map(&:name).join(' ') },
  'current' => ->(vm) { conn.lookup_domain_by_name(vm).current_snapshot.name },
  'xml' => ->(vm, name) { Base64.strict_encode64(snap.(vm, name).xml_desc) },
  'revert' => lambda do |vm, name|
    conn.lookup_domain_by_name(vm).revert_to_snapshot(snap.(vm, name), 0)
    ''
  end,
  'state' => ->(vm) { conn.lookup_domain_by_name(vm).state.join(' ') },
  'delete-children' => lambda do |vm, name|
    snap.(vm, name).delete(Libvirt::Domain::Snapshot::DELETE_CHILDREN)
    ''
  end,
}

$stdin.each_line do |line|
  cmd, *args = line.chomp.split(' ', 4)
  if cmd == 'quit'
    puts 'ok'
    break
  end
  run = commands.fetch(cmd)
  begin
    puts "ok #{run.(*args)}"
  rescue Libvirt::Error => e
    puts "err #{e.libvirt_code} #{e.libvirt_message.to_s.gsub("\n", ' ')}"
  end
end
