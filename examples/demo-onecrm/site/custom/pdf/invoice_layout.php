<?php
// The customer's own invoice PDF layout: the guide asks to test custom PDFs especially.
$layout = array('logo' => 'custom/pdf/logo.png', 'footer' => 'Kunde GmbH, Berlin');
