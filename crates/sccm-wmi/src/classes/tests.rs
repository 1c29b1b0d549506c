use super::*;

#[test]
fn system_from_json_and_wsman_forms() {
    let json = Instance::new("SMS_R_System")
        .with("ResourceId", 16777219)
        .with("Name", "MAC-0001")
        .with("Client", 1)
        .with("Active", true)
        .with("Obsolete", 0)
        .with(
            "MACAddresses",
            vec!["00:11:22:33:44:55", "66:77:88:99:AA:BB"],
        )
        .with("AgentName", vec!["Heartbeat Discovery"])
        .with("AgentTime", vec!["2023-10-04T12:34:56Z"])
        .with("Unknown", "kept");
    let wsman = Instance::new("SMS_R_System")
        .with("ResourceId", "16777219")
        .with("Name", "MAC-0001")
        .with("Client", "1")
        .with("Active", "true")
        .with("Obsolete", "0")
        .with(
            "MACAddresses",
            vec!["00:11:22:33:44:55", "66:77:88:99:AA:BB"],
        )
        .with("AgentName", "Heartbeat Discovery")
        .with("AgentTime", "20231004123456.000000+000")
        .with("Unknown", "kept");
    let a = SmsRSystem::from_instance(&json).unwrap();
    let b = SmsRSystem::from_instance(&wsman).unwrap();
    for s in [&a, &b] {
        assert_eq!(s.resource_id, 16777219);
        assert_eq!(s.client, Some(true));
        assert_eq!(s.active, Some(true));
        assert_eq!(s.obsolete, Some(false));
        assert_eq!(s.mac_addresses.len(), 2);
        assert_eq!(s.agent_name, ["Heartbeat Discovery"]);
        assert_eq!(s.agent_time[0].to_dmtf(), "20231004123456.000000+000");
        assert_eq!(s.instance.get_str("unknown"), Some("kept"));
    }
    assert!(SmsRSystem::from_instance(&Instance::new("SMS_R_System")).is_err());
    assert!(SmsRSystem::from_instance(&Instance::new("SMS_Site").with("ResourceId", 1)).is_err());
    assert!(SmsRSystem::from_instance(&json.clone().with("ResourceId", "x")).is_err());
    assert!(SmsRSystem::from_instance(&json.with("AgentTime", vec!["yesterday"])).is_err());
}

#[test]
fn collection_rules_read_and_write() {
    let rule = SmsCollectionRuleDirect::system(16777219, "MAC-0001");
    let q = crate::wql::parse("select * from SMS_R_System where Name like 'MAC%'").unwrap();
    let qrule = SmsCollectionRuleQuery::new("Macs", &q);
    let c = Instance::new("SMS_Collection")
        .with("CollectionID", "PS100042")
        .with("Name", "Macs")
        .with("CollectionType", 2)
        .with(
            "CollectionRules",
            vec![
                Value::from(rule.to_instance()),
                Value::from(qrule.to_instance().with("QueryID", 3)),
                Value::from(Instance::new("SMS_CollectionRuleIncludeCollection")),
            ],
        );
    let c = SmsCollection::from_instance(&c).unwrap();
    assert_eq!(c.collection_type, CollectionType::Device);
    assert_eq!(c.collection_rules[0], CollectionRule::Direct(rule.clone()));
    match &c.collection_rules[1] {
        CollectionRule::Query(r) => {
            assert_eq!(r.query_id, Some(3));
            assert_eq!(r.query().unwrap(), q);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.collection_rules[2], CollectionRule::Other(_)));
    let params = CollectionRule::Direct(rule).to_params();
    assert_eq!(
        params.to_json().to_string(),
        r#"{"__CLASS":"__PARAMETERS","collectionRule":{"ResourceClassName":"SMS_R_System","ResourceID":16777219,"RuleName":"MAC-0001","__CLASS":"SMS_CollectionRuleDirect"}}"#
    );
    let new = SmsCollection::new("All Managed Macs", CollectionType::Device, "SMS00001");
    let i = new.to_instance();
    assert_eq!(
        i.properties.keys().collect::<Vec<_>>(),
        ["Name", "CollectionType", "LimitToCollectionID"]
    );
}

#[test]
fn inventory_views_and_others() {
    let i = Instance::new("SMS_G_System_COMPUTER_SYSTEM")
        .with("ResourceID", "16777219")
        .with("GroupID", "1")
        .with("TimeStamp", "20231004123456.000000+000")
        .with("Model", "MacBookPro18,1");
    let v = InventoryView::from_instance(&i).unwrap();
    assert_eq!(v.resource_id, 16777219);
    assert_eq!(
        v.get("model").and_then(Value::as_str),
        Some("MacBookPro18,1")
    );
    assert!(
        InventoryView::from_instance(&Instance::new("SMS_R_System").with("ResourceID", 1)).is_err()
    );

    let s = SmsSite::from_instance(
        &Instance::new("SMS_Site")
            .with("SiteCode", "PS1")
            .with("BuildNumber", 9122)
            .with("Type", 2),
    )
    .unwrap();
    assert_eq!(
        (s.site_code.as_str(), s.build_number, s.site_type),
        ("PS1", Some(9122), Some(2))
    );

    let p = SmsProviderLocation::from_instance(
        &Instance::new("SMS_ProviderLocation")
            .with("Machine", "CM01.contoso.com")
            .with("SiteCode", "PS1")
            .with("NamespacePath", "\\\\CM01\\root\\sms\\site_PS1")
            .with("ProviderForLocalSite", "True"),
    )
    .unwrap();
    assert_eq!(p.provider_for_local_site, Some(true));

    let a = SmsAdmin::from_instance(
        &Instance::new("SMS_Admin")
            .with("AdminID", 16777217)
            .with("LogonName", "CONTOSO\\svc_bridge")
            .with("RoleNames", vec!["Full Administrator"]),
    )
    .unwrap();
    assert_eq!(a.role_names, ["Full Administrator"]);

    let m = SmsFullCollectionMembership::from_instance(
        &Instance::new("SMS_FullCollectionMembership")
            .with("CollectionID", "SMS00001")
            .with("ResourceID", 16777219)
            .with("IsDirect", false),
    )
    .unwrap();
    assert_eq!(m.is_direct, Some(false));

    let params = ImportMachineEntry {
        netbios_name: "MAC-0002".into(),
        smbios_guid: None,
        mac_address: Some("00:11:22:33:44:66".into()),
        overwrite_existing_record: false,
    }
    .to_instance();
    assert_eq!(
        params.properties.keys().collect::<Vec<_>>(),
        ["NetbiosName", "MACAddress", "OverwriteExistingRecord"]
    );
    let r = ImportMachineEntryResult::from_instance(
        &Instance::new("")
            .with("ReturnValue", 0)
            .with("ResourceID", 16777220)
            .with("MachineExists", false),
    )
    .unwrap();
    assert_eq!(r.resource_id, Some(16777220));
}
