<?php
$manifest = array('name' => '1CRM update', 'version' => '8.6.4', 'published_date' => '2025-03-01');
